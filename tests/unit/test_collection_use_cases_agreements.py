"""Deduction agreements (R27), unpaid reminder rounds (R29) and reconciliation (R30) against the in-memory
unit of work (tests/unit/fake_collection.py): no database, milliseconds."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.collection.card_vault import CardVault
from services.collection.domain.agreements import AgreementStatus, IdType, Relationship, StoredCard
from services.collection.domain.model import Channel, FeeType, ItemStatus
from services.collection.domain.reconciliation import Chunk, OurPayment, Outcome, SettlementLine
from services.collection.gateways.notifier import Message
from services.collection.handlers.agreements import (
    SignAgreement,
    WrongCode,
    confirm_agreement,
    count_wrong_code,
    list_agreements,
    reencrypt_cards,
    revoke_agreement,
    sign_agreement,
)
from services.collection.handlers.reconciliation import import_settlement, reconciliation_report
from services.collection.handlers.reminders import remind, send_pending_reminders, start_due_rounds
from services.common.clock import CST, FixedClock
from services.common.errors import DomainError
from services.common.money import Fen
from tests.factories import resident_id
from tests.unit.fake_collection import FakeCollection

NOW = dt.datetime(2026, 12, 20, 9, 0, tzinfo=CST)
CLOCK = FixedClock(NOW)
VAULT = CardVault({"k1": b"1" * 32}, "k1")


@pytest.fixture
def tax() -> FakeCollection:
    return FakeCollection()


class Sms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_code(self, phone: str, code: str, reference: str, now: dt.datetime) -> None:
        self.sent.append((phone, code))


class Notifier:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def notify(self, message: Message, now: dt.datetime) -> bool:
        self.messages.append(message)
        return True


# -- agreements (R27) ----------------------------------------------------------------------------


def signing(insured: str, payer: str | None = None) -> SignAgreement:
    return SignAgreement(
        payer_id_number=payer or insured,
        insured_id_type=IdType.RESIDENT_ID_CARD,
        insured_id_number=insured,
        insured_name="张三",
        bank_name="工商银行",
        card_number="6222020200112233445",
        card_holder_name="张三",
        card_phone="13800138000",
        relationship=Relationship.SELF,
        consent_given=True,
    )


async def _signed(tax: FakeCollection, insured: str, code: str = "123456") -> str:
    async with tax.uow() as uow:
        agreement = await sign_agreement(signing(insured), uow, CLOCK, VAULT, Sms(), new_code=lambda: code)
        await uow.commit()
    return agreement.agreement_id


async def test_a_signed_agreement_waits_for_its_code_then_is_active(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    sms = Sms()
    async with tax.uow() as uow:
        agreement = await sign_agreement(signing(insured), uow, CLOCK, VAULT, sms, new_code=lambda: "654321")
        await uow.commit()
    assert (agreement.status, agreement.card_last_four) == (AgreementStatus.PENDING_VERIFICATION, "3445")
    assert sms.sent == [("13800138000", "654321")]
    stored = tax.state.agreements[agreement.agreement_id][2]
    assert b"6222020200112233445" not in stored.ciphertext  # only encrypted
    async with tax.uow() as uow:
        active = await confirm_agreement(insured.lower(), agreement.agreement_id, " 654321 ", uow, CLOCK)
        await uow.commit()
    assert (active.status, active.activated_at) == (AgreementStatus.ACTIVE, NOW)
    async with tax.uow() as uow:
        assert [a.agreement_id for a in await list_agreements(insured, uow, CLOCK)] == [agreement.agreement_id]


async def test_an_unknown_insured_person_cannot_sign(tax: FakeCollection) -> None:
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as refused:
            await sign_agreement(signing(resident_id()), uow, CLOCK, VAULT, Sms())
    assert refused.value.reason == "INSURED_PERSON_NOT_MATCHED"
    assert not tax.state.agreements


async def test_wrong_codes_count_and_the_fifth_locks_the_agreement(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    agreement_id = await _signed(tax, insured)
    for attempt in range(1, 6):
        async with tax.uow() as uow:
            with pytest.raises(WrongCode) as wrong:
                await confirm_agreement(insured, agreement_id, "000000", uow, CLOCK)
            refusal = await count_wrong_code(wrong.value, uow, CLOCK)
            await uow.commit()
        assert refusal.reason == ("AGREEMENT_LOCKED" if attempt == 5 else "VERIFICATION_CODE_WRONG")
        assert tax.state.agreements[agreement_id][0].wrong_code_attempts == attempt
    assert tax.state.agreements[agreement_id][0].status is AgreementStatus.LOCKED
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as locked:
            await confirm_agreement(insured, agreement_id, "123456", uow, CLOCK)  # even the right code
    assert locked.value.reason == "AGREEMENT_LOCKED"


async def test_an_expired_code_is_refused_and_counts_nothing(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    agreement_id = await _signed(tax, insured)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as expired:
            await confirm_agreement(insured, agreement_id, "123456", uow, FixedClock(NOW + dt.timedelta(minutes=6)))
    assert expired.value.reason == "VERIFICATION_CODE_EXPIRED"
    assert tax.state.agreements[agreement_id][0].wrong_code_attempts == 0


async def test_another_payers_agreement_is_as_good_as_absent(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    agreement_id = await _signed(tax, insured)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as absent:
            await confirm_agreement(resident_id(), agreement_id, "123456", uow, CLOCK)
    assert absent.value.reason == "AGREEMENT_NOT_FOUND"


async def test_one_active_agreement_per_insured_person(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    first, second = await _signed(tax, insured), await _signed(tax, insured)
    async with tax.uow() as uow:
        await confirm_agreement(insured, first, "123456", uow, CLOCK)
        await uow.commit()
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as taken:
            await confirm_agreement(insured, second, "123456", uow, CLOCK)
    assert taken.value.reason == "AGREEMENT_ALREADY_ACTIVE"
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as signing_again:
            await sign_agreement(signing(insured), uow, CLOCK, VAULT, Sms())
    assert signing_again.value.reason == "AGREEMENT_ALREADY_ACTIVE"


async def test_a_revoked_agreement_stays_revoked(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    agreement_id = await _signed(tax, insured)
    async with tax.uow() as uow:
        await confirm_agreement(insured, agreement_id, "123456", uow, CLOCK)
        revoked = await revoke_agreement(insured, agreement_id, uow, CLOCK)
        await uow.commit()
    assert revoked.status is AgreementStatus.REVOKED
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as again:
            await revoke_agreement(insured, agreement_id, uow, CLOCK)
    assert again.value.reason == "AGREEMENT_REVOKED"


async def test_cards_are_reencrypted_under_the_current_key(tax: FakeCollection) -> None:
    insured = tax.add_person(resident_id(), "张三").resident_id_number
    agreement_id = await _signed(tax, insured)
    rotated = CardVault({"k1": b"1" * 32, "k2": b"2" * 32}, "k2")
    assert await reencrypt_cards(tax.factory(), rotated, CLOCK, batch_size=1) == 1
    assert await reencrypt_cards(tax.factory(), rotated, CLOCK) == 0
    async with tax.uow() as uow:
        card: StoredCard = await uow.agreements.card(agreement_id)
    assert rotated.decrypt(card.key_id, card.ciphertext, agreement_id) == "6222020200112233445"


# -- reminders (R29) -----------------------------------------------------------------------------


async def test_one_reminder_per_person_per_round_and_none_for_what_was_paid_meanwhile(tax: FakeCollection) -> None:
    owing, paid_meanwhile = tax.add_person(resident_id(), "张三"), tax.add_person(resident_id(), "李四")
    tax.add_item(owing, 2027, 40_000)
    tax.add_item(owing, 2027, 10_000, fee_type=FeeType.RESIDENT_PENSION)
    settled = tax.add_item(paid_meanwhile, 2027, 40_000)
    assert await start_due_rounds(tax.factory(), CLOCK, 14) == 2
    assert await start_due_rounds(tax.factory(), CLOCK, 14) == 0  # the round exists
    tax.state.items[settled.payable_item_id] = replace(settled, status=ItemStatus.PAID)
    notifier = Notifier()
    assert await send_pending_reminders(tax.factory(), CLOCK, notifier, 10) == 2
    assert [m.recipient_id_number for m in notifier.messages] == [owing.resident_id_number]
    assert "500.00" in notifier.messages[0].text
    assert await remind(tax.factory(), CLOCK, notifier, 14, 10) == 0


async def test_no_round_before_its_days_or_after_the_window(tax: FakeCollection) -> None:
    tax.add_item(tax.add_person(resident_id(), "张三"), 2027)  # the window closes on 2026-12-31
    assert await start_due_rounds(tax.factory(), CLOCK, 7) == 0  # opens on 12-24
    assert await start_due_rounds(tax.factory(), FixedClock(NOW + dt.timedelta(days=12)), 30) == 0  # closed


# -- reconciliation (R30) ------------------------------------------------------------------------

DAY = dt.date(2026, 12, 19)
PAID_AT = dt.datetime(2026, 12, 19, 10, 0, tzinfo=CST)


def line(n: int, txn: str, amount: int) -> SettlementLine:
    return SettlementLine(n, txn, f"order-{txn}", Fen(amount), PAID_AT)


async def _import(tax: FakeCollection, chunk: Chunk, lines: list[SettlementLine]) -> tuple[bool, int, bool]:
    async with tax.uow() as uow:
        result = await import_settlement(Channel.WECHAT, DAY, chunk, lines, uow, CLOCK)
        await uow.commit()
    return result.complete, result.version, result.unchanged


async def test_a_chunked_file_is_reconciled_when_its_last_chunk_arrives(tax: FakeCollection) -> None:
    tax.state.settled += [
        (Channel.WECHAT, PAID_AT, OurPayment("p1", "T1", "order-T1", Fen(100))),
        (Channel.WECHAT, PAID_AT, OurPayment("p2", "T2", "order-T2", Fen(200))),
        (Channel.WECHAT, PAID_AT, OurPayment("p3", "T3", "order-T3", Fen(300))),
        (Channel.ALIPAY, PAID_AT, OurPayment("p4", "T4", "order-T4", Fen(400))),  # another channel
    ]
    assert await _import(tax, Chunk("u1", 0, 2), [line(1, "T1", 100), line(2, "T2", 250)]) == (False, 0, False)
    assert await _import(tax, Chunk("u1", 0, 2), [line(1, "T1", 100)]) == (False, 0, False)  # a repeat
    assert await _import(tax, Chunk("u1", 1, 2), [line(3, "T9", 900)]) == (True, 1, False)
    async with tax.uow() as uow:
        report = await reconciliation_report(Channel.WECHAT, DAY, 0, uow)
    assert (report.header.version, report.header.matched_count, report.header.matched_amount_fen) == (1, 1, 100)
    assert sorted(f.outcome for f in report.mismatches) == sorted(
        [Outcome.AMOUNT_DIFFERS, Outcome.MISSING_IN_TAX, Outcome.MISSING_IN_CHANNEL]
    )
    assert not tax.state.uploads  # the staging rows are gone


async def test_the_same_file_again_changes_nothing_and_a_corrected_one_is_the_next_version(tax: FakeCollection) -> None:
    tax.state.settled.append((Channel.WECHAT, PAID_AT, OurPayment("p1", "T1", "order-T1", Fen(100))))
    assert await _import(tax, Chunk("a", 0, 1), [line(1, "T1", 90)]) == (True, 1, False)
    assert await _import(tax, Chunk("b", 0, 1), [line(1, "T1", 90)]) == (True, 1, True)
    assert await _import(tax, Chunk("c", 0, 1), [line(1, "T1", 100)]) == (True, 2, False)
    async with tax.uow() as uow:
        first = await reconciliation_report(Channel.WECHAT, DAY, 1, uow)
        latest = await reconciliation_report(Channel.WECHAT, DAY, 0, uow)
    assert [f.outcome for f in first.mismatches] == [Outcome.AMOUNT_DIFFERS]  # a snapshot, kept
    assert (latest.header.version, latest.version_count, latest.mismatches) == (2, 2, ())


async def test_a_future_day_a_changed_chunk_count_and_a_missing_report_are_refused(tax: FakeCollection) -> None:
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as future:
            await import_settlement(Channel.WECHAT, NOW.date() + dt.timedelta(days=1), Chunk("u", 0, 1), [], uow, CLOCK)
    assert future.value.reason == "SETTLEMENT_DATE_IN_FUTURE"
    await _import(tax, Chunk("u", 0, 3), [line(1, "T1", 1)])
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as changed:
            await import_settlement(Channel.WECHAT, DAY, Chunk("u", 1, 2), [line(2, "T2", 1)], uow, CLOCK)
        with pytest.raises(DomainError) as missing:
            await reconciliation_report(Channel.ALIPAY, DAY, 0, uow)
    assert (changed.value.reason, missing.value.reason) == ("CHUNK_COUNT_CHANGED", "REPORT_NOT_FOUND")
