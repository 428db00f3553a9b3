"""R27: agreement rules, the card vault and the local stand-ins for SMS, notifier and bank."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.collection.card_vault import CardKeyError, CardVault, parse_keys
from services.collection.domain.agreements import (
    CODE_TTL,
    MAX_WRONG_CODES,
    Agreement,
    AgreementStatus,
    IdType,
    Relationship,
    Verdict,
    after_failed_run,
    check_signable,
    checked_card_number,
    checked_mobile,
    checked_text,
    code_digest,
    code_from_number,
    judge_code,
    locks_after,
    mask_phone,
    wrong_code,
)
from services.collection.domain.deductions import deductible, deduction_payment
from services.collection.domain.model import Channel, FeeType, ItemStatus, PayableItem
from services.collection.gateways.bank_deduction import (
    BankTimeout,
    DeductionRequest,
    DeductionStatus,
    SimulatedBank,
)
from services.collection.gateways.notifier import LocalNotifier, Message
from services.common.clock import CST, FixedClock
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange

NOW = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)
KEY_A = base64.b64encode(b"a" * 32).decode()
KEY_B = base64.b64encode(b"b" * 32).decode()


def agreement(**changes: Any) -> Agreement:
    base = Agreement(
        agreement_id="0b6f0e1c-0000-4000-8000-000000000001",
        payer_id_number="110105194912310029",
        insured_id_type=IdType.RESIDENT_ID_CARD,
        insured_id_number="340802198001010012",
        insured_name="张三",
        bank_name="工商银行",
        card_last_four="1234",
        card_holder_name="张父",
        card_phone="13912345678",
        relationship=Relationship.PARENT,
        status=AgreementStatus.PENDING_VERIFICATION,
        code_expires_at=NOW + CODE_TTL,
        wrong_code_attempts=0,
        failed_deduction_runs=0,
        created_at=NOW,
    )
    return replace(base, **changes)


def test_card_numbers_are_12_to_19_digits_and_the_error_never_repeats_them() -> None:
    assert checked_card_number("6222 0212 3456 7890 123") == "6222021234567890123"
    with pytest.raises(InvalidArgument) as refused:
        checked_card_number("62220212345678901234")
    assert "62220212345678901234" not in str(refused.value) and refused.value.field == "card_number"


def test_names_are_short_printable_text() -> None:
    assert checked_text(" 工商银行 ", "bank_name", "开户银行") == "工商银行"
    for bad in ("", "银\x00行", "x" * 65):
        with pytest.raises(InvalidArgument) as refused:
            checked_text(bad, "bank_name", "开户银行")
        assert refused.value.field == "bank_name"


def test_phones_are_mainland_mobiles_and_shown_masked() -> None:
    assert checked_mobile(" 13912345678 ") == "13912345678"
    with pytest.raises(InvalidArgument):
        checked_mobile("02512345678")
    assert mask_phone("13912345678") == "139****5678"


def test_a_relatives_card_needs_consent_and_an_own_card_the_persons_name() -> None:
    check_signable(Relationship.PARENT, "张父", "张三", consent_given=True)
    with pytest.raises(InvalidArgument, match="consent"):
        check_signable(Relationship.PARENT, "张父", "张三", consent_given=False)
    with pytest.raises(InvalidArgument) as own:
        check_signable(Relationship.SELF, "张父", "张三", consent_given=True)
    assert own.value.reason == "CARD_HOLDER_NOT_INSURED"


def test_the_right_code_before_expiry_confirms() -> None:
    digest = code_digest(agreement().agreement_id, "123456")
    assert judge_code(agreement(), digest, "123456", NOW + CODE_TTL) is Verdict.CONFIRMED
    assert judge_code(agreement(), digest, "654321", NOW) is Verdict.WRONG


def test_a_code_after_five_minutes_is_expired_even_if_right() -> None:
    digest = code_digest(agreement().agreement_id, "123456")
    with pytest.raises(FailedPrecondition) as expired:
        judge_code(agreement(), digest, "123456", NOW + CODE_TTL + dt.timedelta(seconds=1))
    assert expired.value.reason == "VERIFICATION_CODE_EXPIRED"


def test_the_fifth_wrong_code_locks_and_a_locked_agreement_takes_no_code() -> None:
    assert [locks_after(n) for n in range(MAX_WRONG_CODES)] == [False, False, False, False, True]
    assert wrong_code("a", 4).metadata["attempts_left"] == "1"
    assert wrong_code("a", 5).reason == "AGREEMENT_LOCKED"
    digest = code_digest(agreement().agreement_id, "123456")
    with pytest.raises(FailedPrecondition) as locked:
        judge_code(agreement(status=AgreementStatus.LOCKED), digest, "123456", NOW)
    assert locked.value.reason == "AGREEMENT_LOCKED"


def test_codes_are_six_digits_and_stored_only_as_salted_digests() -> None:
    assert code_from_number(42) == "000042"
    assert code_digest("a", "000042") != code_digest("b", "000042")


def test_failed_runs_fall_back_at_the_configured_count() -> None:
    assert after_failed_run(0, 3) == (1, False)
    assert after_failed_run(2, 3) == (3, True)


def test_the_vault_decrypts_what_it_encrypted_and_only_for_the_same_agreement() -> None:
    vault = CardVault(parse_keys(f"k1:{KEY_A}"), "k1")
    sealed = vault.encrypt("6222021234567890123", "agreement-1")
    assert sealed.key_id == "k1" and sealed.last_four == "0123"
    assert b"6222021234567890123" not in sealed.ciphertext
    assert vault.decrypt("k1", sealed.ciphertext, "agreement-1") == "6222021234567890123"
    with pytest.raises(CardKeyError):
        vault.decrypt("k1", sealed.ciphertext, "agreement-2")


def test_a_new_current_key_still_reads_cards_under_the_old_one_and_reencrypts_them() -> None:
    old = CardVault(parse_keys(f"k1:{KEY_A}"), "k1").encrypt("6222021234567890123", "a-1")
    rotated = CardVault(parse_keys(f"k1:{KEY_A},k2:{KEY_B}"), "k2")
    assert rotated.decrypt("k1", old.ciphertext, "a-1") == "6222021234567890123"
    again = rotated.reencrypt("k1", old.ciphertext, "a-1")
    assert again is not None and again.key_id == "k2"
    assert rotated.reencrypt("k2", again.ciphertext, "a-1") is None
    with pytest.raises(CardKeyError):
        CardVault(parse_keys(f"k2:{KEY_B}"), "k2").decrypt("k1", old.ciphertext, "a-1")


def test_a_request_fingerprint_sees_a_keyed_digest_of_the_card_not_a_plain_hash() -> None:
    vault = CardVault(parse_keys(f"k1:{KEY_A}"), "k1")
    other = CardVault(parse_keys(f"k1:{KEY_B}"), "k1")
    card = "6222021234567890123"
    assert vault.blind(card) == vault.blind(card) != vault.blind("6222021234567890124")
    assert vault.blind(card) != other.blind(card) and card not in vault.blind(card)


def _item(**changes: Any) -> PayableItem:
    base = PayableItem(
        payable_item_id="i-1",
        enrollment_id="e-1",
        resident_id_number="340802198001010012",
        insured_name="张三",
        region_code="340800",
        category="NON_EMPLOYED",
        insurance_year=2024,
        fee_type=FeeType.RESIDENT_MEDICAL,
        standard_fen=Fen(38000),
        subsidy_fen=Fen(0),
        amount_fen=Fen(38000),
        status=ItemStatus.UNPAID,
        policy_version=1,
        collection_window=DateRange(dt.date(2023, 9, 1), dt.date(2023, 12, 31)),
        payable_until=dt.date(2023, 12, 31),
        coverage=DateRange(dt.date(2024, 1, 1), dt.date(2024, 12, 31)),
        newborn_current_year=False,
    )
    return replace(base, **changes)


def test_a_run_deducts_unpaid_unheld_items_still_payable_today() -> None:
    items = [
        _item(payable_item_id="due"),
        _item(payable_item_id="paid", status=ItemStatus.PAID),
        _item(payable_item_id="held", pending_order_id="o-1"),
        _item(payable_item_id="late", payable_until=dt.date(2023, 11, 19)),
    ]
    assert [i.payable_item_id for i in deductible(items, NOW.date())] == ["due"]


def test_a_deduction_success_is_a_channel_payment_keyed_by_the_banks_transaction() -> None:
    payment = deduction_payment("o-1", "BANK1", Fen(38000), NOW, "attempt-1")
    assert (payment.channel, payment.transaction_id, payment.order_id) == (Channel.AGREEMENT_DEDUCTION, "BANK1", "o-1")


async def test_the_simulated_bank_deducts_once_per_attempt_and_reports_a_lost_answer_later(tmp_path: Path) -> None:
    bank = SimulatedBank(tmp_path / "bank.json", FixedClock(NOW))
    bank.open_account("6222021234567890123", 50_000, timeouts=1)
    request = DeductionRequest("attempt-1", "o-1", "6222021234567890123", "张父", Fen(38000))
    with pytest.raises(BankTimeout):
        await bank.deduct(request)
    assert bank.balance("6222021234567890123") == 12_000
    late = await bank.query("attempt-1")
    assert late is not None and late.status is DeductionStatus.SUCCEEDED and late.paid_at == NOW
    again = await bank.deduct(request)
    assert again.transaction_id == late.transaction_id and bank.balance("6222021234567890123") == 12_000
    short = await bank.deduct(DeductionRequest("attempt-2", "o-2", "6222021234567890123", "张父", Fen(38000)))
    assert (short.status, short.refusal) == (DeductionStatus.REFUSED, "INSUFFICIENT_FUNDS")
    assert await bank.query("attempt-3") is None
    assert "6222021234567890123" not in (tmp_path / "bank.json").read_text()


async def test_the_local_notifier_delivers_each_message_id_once(tmp_path: Path) -> None:
    notifier = LocalNotifier(tmp_path / "n.jsonl")
    message = Message("m-1", "340802198001010012", "UNPAID_REMINDER", "请缴费")
    assert await notifier.notify(message, NOW) is True
    assert await LocalNotifier(tmp_path / "n.jsonl").notify(message, NOW) is False
    assert len((tmp_path / "n.jsonl").read_text().splitlines()) == 1
