"""Entrusted deduction agreements end to end (R27): sign with a card, confirm the SMS code, deduction
runs through the simulated bank, coverage on the insurance side; card numbers never in clear."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from pathlib import Path

import asyncpg
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from services.collection.domain.model import Channel
from services.collection.gateways.bank_deduction import SimulatedBank
from services.collection.gateways.local_files import read_lines
from services.common.clock import SystemClock
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import new_request_id
from tests.e2e.system import ROOT, System
from tests.e2e.test_payments import check, covered, registered_person
from tests.factories import unique_resident_id
from tests.support import refused

# Every card number a test here used; the scan at the end looks for each of them in clear.
CARDS: list[str] = []


def new_card() -> str:
    card = "6222" + "".join(random.choice("0123456789") for _ in range(15))
    CARDS.append(card)
    return card


def bank_of(system: System) -> SimulatedBank:
    return SimulatedBank(system.bank_file, SystemClock())


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)


async def run_deductions(system: System, **env: str) -> None:
    """One on-demand deduction run, as the operator starts it: the real worker process, run once."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.deductions",
        "--once",
        cwd=ROOT,
        env={**system.env, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    _append(system.logs / "deductions-once.log", output)
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]


def sms_code(system: System, agreement_id: str) -> str:
    sent = [m for m in read_lines(system.sms_file) if m["reference"] == agreement_id]
    assert len(sent) == 1, sent
    return str(sent[0]["code"])


async def sign(
    collection: CollectionClient,
    payer: str,
    insured: str,
    name: str,
    card: str,
    *,
    relationship: col.Relationship.ValueType = col.RELATIONSHIP_PARENT,
    holder: str = "钱父",
) -> col.DeductionAgreement:
    reply = await collection.CreateDeductionAgreement(
        col.CreateDeductionAgreementRequest(
            request_id=new_request_id(),
            payer_id_number=payer,
            insured_id_type=col.ID_TYPE_RESIDENT_ID_CARD,
            insured_id_number=insured,
            insured_name=name,
            bank_name="中国工商银行",
            card_number=card,
            card_holder_name=holder,
            card_phone="13912345678",
            relationship=relationship,
            consent_given=True,
        )
    )
    return reply.agreement


async def confirm(collection: CollectionClient, payer: str, agreement_id: str, code: str) -> col.DeductionAgreement:
    reply = await collection.ConfirmDeductionAgreement(
        col.ConfirmDeductionAgreementRequest(
            request_id=new_request_id(), payer_id_number=payer, agreement_id=agreement_id, verification_code=code
        )
    )
    return reply.agreement


async def active_agreement(
    system: System,
    registration: RegistrationClient,
    collection: CollectionClient,
    name: str,
    balance_fen: int,
    *,
    timeouts: int = 0,
) -> tuple[str, str, str, col.PayableItem, col.DeductionAgreement]:
    """(insured, payer, card, the insured's item, the active agreement) with a relative's card in the bank."""
    insured, items = await registered_person(registration, collection, name=name)
    payer = unique_resident_id()
    card = new_card()
    bank_of(system).open_account(card, balance_fen, timeouts=timeouts)
    agreement = await sign(collection, payer, insured, name, card)
    active = await confirm(collection, payer, agreement.agreement_id, sms_code(system, agreement.agreement_id))
    assert active.status == col.AGREEMENT_STATUS_ACTIVE
    return insured, payer, card, items[0], active


async def item_state(collection: CollectionClient, insured: str, name: str, item_id: str) -> col.PayableItem:
    reply = await collection.ListPayableItems(
        col.ListPayableItemsRequest(
            payer_id_number=insured, insured_id_number=insured, insured_name=name, include_settled=True
        )
    )
    return next(i for i in reply.payable_items if i.payable_item_id == item_id)


async def agreement_now(collection: CollectionClient, payer: str, agreement_id: str) -> col.DeductionAgreement:
    reply = await collection.ListDeductionAgreements(col.ListDeductionAgreementsRequest(payer_id_number=payer))
    return next(a for a in reply.agreements if a.agreement_id == agreement_id)


async def payments_of_item(system: System, item_id: str) -> int:
    return int(
        await system.value(
            "tax",
            """SELECT count(*) FROM payments p JOIN order_lines l ON l.order_id = p.order_id
               WHERE l.payable_item_id = $1::uuid""",
            item_id,
        )
    )


async def test_an_agreement_with_a_relatives_card_is_confirmed_and_the_next_run_pays_and_covers(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    insured, items = await registered_person(registration, collection, name="钱一")
    parent = unique_resident_id()
    card = new_card()
    bank_of(system).open_account(card, 100_000)

    signed = await sign(collection, parent, insured, "钱一", card)
    assert signed.status == col.AGREEMENT_STATUS_PENDING_VERIFICATION
    assert (signed.card_last_four, signed.masked_phone) == (card[-4:], "139****5678")
    assert signed.relationship == col.RELATIONSHIP_PARENT
    await run_deductions(system)
    assert (await item_state(collection, insured, "钱一", items[0].payable_item_id)).status == (
        col.PAYABLE_ITEM_STATUS_UNPAID
    ), "an unconfirmed agreement deducts nothing"

    active = await confirm(collection, parent, signed.agreement_id, sms_code(system, signed.agreement_id))
    assert active.status == col.AGREEMENT_STATUS_ACTIVE and active.HasField("activate_time")

    await run_deductions(system)
    paid = await item_state(collection, insured, "钱一", items[0].payable_item_id)
    assert paid.status == col.PAYABLE_ITEM_STATUS_PAID
    assert bank_of(system).balance(card) == 100_000 - items[0].amount_fen
    result = await covered(enrollment, insured, 2024)
    assert result.status == chk.CHECK_STATUS_COVERED

    orders = (await collection.ListOrders(col.ListOrdersRequest(payer_id_number=parent))).orders
    assert [(o.kind, o.status, o.total_fen) for o in orders] == [
        (col.ORDER_KIND_AGREEMENT_DEDUCTION, col.ORDER_STATUS_PAID, items[0].amount_fen)
    ]
    receipt = (
        await collection.GetReceipt(col.GetReceiptRequest(payer_id_number=parent, order_id=orders[0].order_id))
    ).receipt
    assert receipt.channel == common_pb2.PAYMENT_CHANNEL_AGREEMENT_DEDUCTION
    assert [line.insured_id_number for line in receipt.lines] == [insured]

    await run_deductions(system)
    assert len(bank_of(system).deductions()) >= 1
    assert await payments_of_item(system, items[0].payable_item_id) == 1, "nothing is deducted twice"


async def test_five_wrong_codes_lock_the_agreement_even_for_the_right_code(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    insured, _ = await registered_person(registration, collection, name="孙二")
    payer = unique_resident_id()
    signed = await sign(collection, payer, insured, "孙二", new_card(), relationship=col.RELATIONSHIP_SPOUSE)
    right = sms_code(system, signed.agreement_id)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    for left in (4, 3, 2, 1):
        failure = await refused(confirm(collection, payer, signed.agreement_id, wrong))
        assert (failure.reason, failure.metadata["attempts_left"]) == ("VERIFICATION_CODE_WRONG", str(left))
        assert failure.fields == ["verification_code"]
    fifth = await refused(confirm(collection, payer, signed.agreement_id, wrong))
    assert fifth.reason == "AGREEMENT_LOCKED"
    after = await refused(confirm(collection, payer, signed.agreement_id, right))
    assert after.reason == "AGREEMENT_LOCKED"
    locked = await agreement_now(collection, payer, signed.agreement_id)
    assert (locked.status, locked.wrong_code_attempts) == (col.AGREEMENT_STATUS_LOCKED, 5)


async def test_an_expired_code_is_refused(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    insured, _ = await registered_person(registration, collection, name="周三")
    payer = unique_resident_id()
    signed = await sign(collection, payer, insured, "周三", new_card())
    code = sms_code(system, signed.agreement_id)
    system.set_clock(START.replace(minute=START.minute + 5, second=1))
    failure = await refused(confirm(collection, payer, signed.agreement_id, code))
    assert failure.reason == "VERIFICATION_CODE_EXPIRED"
    assert (await agreement_now(collection, payer, signed.agreement_id)).status == (
        col.AGREEMENT_STATUS_PENDING_VERIFICATION
    )


async def test_insufficient_funds_are_retried_on_the_next_run(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    insured, payer, card, item, agreement = await active_agreement(system, registration, collection, "吴四", 0)

    await run_deductions(system)
    assert (await item_state(collection, insured, "吴四", item.payable_item_id)).status == (
        col.PAYABLE_ITEM_STATUS_UNPAID
    )
    assert not (await item_state(collection, insured, "吴四", item.payable_item_id)).pending_order_id, (
        "a refused deduction frees the item"
    )
    after_failure = await agreement_now(collection, payer, agreement.agreement_id)
    assert (after_failure.status, after_failure.failed_deduction_runs) == (col.AGREEMENT_STATUS_ACTIVE, 1)

    bank_of(system).open_account(card, 50_000)
    await run_deductions(system)
    assert (await item_state(collection, insured, "吴四", item.payable_item_id)).status == col.PAYABLE_ITEM_STATUS_PAID
    assert (await agreement_now(collection, payer, agreement.agreement_id)).failed_deduction_runs == 0
    assert bank_of(system).balance(card) == 50_000 - item.amount_fen
    await covered(enrollment, insured, 2024)


async def test_a_bank_timeout_then_a_late_success_makes_exactly_one_payment(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    insured, _, card, item, _ = await active_agreement(system, registration, collection, "郑五", 100_000, timeouts=1)

    await run_deductions(system)
    held = await item_state(collection, insured, "郑五", item.payable_item_id)
    assert held.status == col.PAYABLE_ITEM_STATUS_UNPAID and held.pending_order_id, (
        "the answer was lost: the item stays with the deduction until the bank says what happened"
    )
    assert bank_of(system).balance(card) == 100_000 - item.amount_fen, "the bank did move the money"
    assert (await check(enrollment, insured, 2024)).status == chk.CHECK_STATUS_REGISTERED_UNPAID

    await run_deductions(system)
    assert (await item_state(collection, insured, "郑五", item.payable_item_id)).status == col.PAYABLE_ITEM_STATUS_PAID
    await covered(enrollment, insured, 2024)
    await run_deductions(system)
    assert bank_of(system).balance(card) == 100_000 - item.amount_fen, "deducted once"
    assert await payments_of_item(system, item.payable_item_id) == 1
    assert (
        await system.value(
            "tax",
            "SELECT count(*) FROM deduction_attempts a JOIN order_lines l ON l.order_id = a.order_id "
            "WHERE l.payable_item_id = $1::uuid",
            item.payable_item_id,
        )
        == 1
    ), "the lost answer was asked about, never sent as a new deduction"


async def test_a_late_success_reported_by_the_bank_and_found_by_the_next_run_counts_once(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    insured, _, card, item, _ = await active_agreement(system, registration, collection, "冯六", 100_000, timeouts=1)
    await run_deductions(system)
    held = await item_state(collection, insured, "冯六", item.payable_item_id)
    deduction = next(d for d in bank_of(system).deductions().values() if d.get("order_id") == held.pending_order_id)

    # The bank's own success notification arrives late, through the channel path...
    notified = await collection.NotifyPayment(
        channels.notification(
            Channel.AGREEMENT_DEDUCTION,
            channels.bank(held.pending_order_id, item.amount_fen, START, transaction_id=deduction["transaction_id"]),
        )
    )
    assert notified.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    # ...and the next run learns the same success by asking about its attempt.
    await run_deductions(system)
    await covered(enrollment, insured, 2024)
    assert await payments_of_item(system, item.payable_item_id) == 1
    assert bank_of(system).balance(card) == 100_000 - item.amount_fen
    assert (
        await system.value(
            "tax", "SELECT status FROM deduction_attempts WHERE order_id = $1::uuid", held.pending_order_id
        )
        == "SUCCEEDED"
    )


async def test_after_too_many_failed_runs_the_payer_is_told_to_pay_by_an_ordinary_order(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    _, payer, _, item, agreement = await active_agreement(system, registration, collection, "陈七", 0)
    for _ in range(2):
        await run_deductions(system, MEDINS_DEDUCTION_MAX_FAILED_RUNS="2")
    suspended = await agreement_now(collection, payer, agreement.agreement_id)
    assert (suspended.status, suspended.failed_deduction_runs) == (col.AGREEMENT_STATUS_SUSPENDED, 2)
    told = [
        m
        for m in read_lines(system.notifier_file)
        if m["kind"] == "DEDUCTION_FALLBACK" and m["recipient_id_number"] == payer
    ]
    assert len(told) == 1 and "暂停自动扣款" in told[0]["text"]

    await run_deductions(system, MEDINS_DEDUCTION_MAX_FAILED_RUNS="2")
    attempts = await system.value(
        "tax", "SELECT count(*) FROM deduction_attempts WHERE agreement_id = $1::uuid", agreement.agreement_id
    )
    assert attempts == 2, "a suspended agreement is not deducted"
    order = await collection.CreateOrder(
        col.CreateOrderRequest(
            request_id=new_request_id(), payer_id_number=payer, payable_item_ids=[item.payable_item_id]
        )
    )
    assert order.order.kind == col.ORDER_KIND_PERSONAL and order.order.total_fen == item.amount_fen


async def test_a_repeated_request_signs_once_and_a_revoked_agreement_deducts_nothing(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    insured, items = await registered_person(registration, collection, name="韩九")
    payer, card = unique_resident_id(), new_card()
    bank_of(system).open_account(card, 100_000)
    request = col.CreateDeductionAgreementRequest(
        request_id=new_request_id(),
        payer_id_number=payer,
        insured_id_type=col.ID_TYPE_RESIDENT_ID_CARD,
        insured_id_number=insured,
        insured_name="韩九",
        bank_name="中国银行",
        card_number=card,
        card_holder_name="韩九",
        card_phone="13912345678",
        relationship=col.RELATIONSHIP_SELF,
        consent_given=True,
    )
    first = (await collection.CreateDeductionAgreement(request)).agreement
    again = (await collection.CreateDeductionAgreement(request)).agreement
    assert again == first
    listed = await collection.ListDeductionAgreements(col.ListDeductionAgreementsRequest(payer_id_number=payer))
    assert [a.agreement_id for a in listed.agreements] == [first.agreement_id]
    await confirm(collection, payer, first.agreement_id, sms_code(system, first.agreement_id))

    revoked = await collection.RevokeDeductionAgreement(
        col.RevokeDeductionAgreementRequest(
            request_id=new_request_id(), payer_id_number=payer, agreement_id=first.agreement_id
        )
    )
    assert revoked.agreement.status == col.AGREEMENT_STATUS_REVOKED
    await run_deductions(system)
    assert (await item_state(collection, insured, "韩九", items[0].payable_item_id)).status == (
        col.PAYABLE_ITEM_STATUS_UNPAID
    )
    assert bank_of(system).balance(card) == 100_000
    twice = await refused(
        collection.RevokeDeductionAgreement(
            col.RevokeDeductionAgreementRequest(
                request_id=new_request_id(), payer_id_number=payer, agreement_id=first.agreement_id
            )
        )
    )
    assert twice.reason == "AGREEMENT_REVOKED"
    stranger = await refused(confirm(collection, unique_resident_id(), first.agreement_id, "000000"))
    assert stranger.reason == "AGREEMENT_NOT_FOUND"


async def test_bad_agreement_input_is_refused_without_echoing_the_card(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    insured, _ = await registered_person(registration, collection, name="褚八")
    payer = unique_resident_id()
    # Letters never reach the rule: the edge refuses the characters (R34), naming the field.
    failure = await refused(sign(collection, payer, insured, "褚八", "6222-not-a-card-1234"))
    assert (failure.reason, failure.fields) == ("INVALID_CHARACTERS", ["card_number"])
    assert "6222" not in failure.message
    too_short = await refused(sign(collection, payer, insured, "褚八", "62220012345"))
    assert (too_short.reason, too_short.fields) == ("INVALID_CARD_NUMBER", ["card_number"])
    assert "62220012345" not in too_short.message
    mismatch = await refused(sign(collection, payer, insured, "别人", new_card()))
    assert mismatch.reason == "INSURED_PERSON_NOT_MATCHED"
    own_card = await refused(
        sign(collection, payer, insured, "褚八", new_card(), relationship=col.RELATIONSHIP_SELF, holder="别人")
    )
    assert (own_card.reason, own_card.fields) == ("CARD_HOLDER_NOT_INSURED", ["card_holder_name"])


async def test_no_card_number_is_in_the_logs_or_the_database_in_clear(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    """Runs last in this module: signs, confirms, times out and refuses once more, then scans every
    process log and a full dump of both databases for every card number used here."""
    await active_agreement(system, registration, collection, "卫九", 0)
    await active_agreement(system, registration, collection, "蒋十", 100_000, timeouts=1)
    await run_deductions(system)
    await run_deductions(system)
    assert len(CARDS) >= 2, "the two cards signed here, and any earlier test's"

    settings = system.stack.settings()
    dumps = ""
    for database in (settings.tax_db, settings.insurance_db):
        dumped = await asyncio.create_subprocess_exec(
            "pg_dump",
            "--data-only",
            "-h",
            settings.pg_host,
            "-p",
            str(settings.pg_port),
            "-U",
            settings.pg_user,
            database,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await dumped.communicate()
        assert dumped.returncode == 0, err.decode()
        dumps += out.decode(errors="replace")
    assert "COPY public.deduction_agreements" in dumps, "the agreements are in the dump that is scanned"
    assert all(card[-4:] in dumps for card in CARDS[-2:]), "the dump holds what is shown: the last four digits"
    logs = "".join(path.read_text(errors="replace") for path in system.logs.glob("*.log"))
    assert "agreement_signed" in logs and "deduction_run_finished" in logs, "the scanned logs are the real ones"
    leaked = [card for card in CARDS if card in dumps or card in logs]
    assert leaked == [], f"{len(leaked)} card numbers found in clear"
    conn = await asyncpg.connect(settings.tax_dsn)
    try:
        stored = await conn.fetch("SELECT card_key_id, card_ciphertext FROM deduction_agreements")
    finally:
        await conn.close()
    assert stored and all(r["card_key_id"] == settings.card_key_id for r in stored)
    assert not any(card.encode() in bytes(r["card_ciphertext"]) for r in stored for card in CARDS)
