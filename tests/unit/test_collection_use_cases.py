"""The order and refund use cases against an in-memory unit of work (tests/unit/fake_collection.py): R19's
holds and expiry, R28's school order, R23's refunds and R14's reversal, in milliseconds, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.collection.domain.model import (
    Channel,
    EnrollmentState,
    FeeType,
    ItemStatus,
    OrderKind,
    OrderStatus,
    PaymentOutcome,
    Refund,
    RefundReason,
    RefundStatus,
)
from services.collection.domain.refunds import MAX_ATTEMPTS
from services.collection.handlers.orders import (
    Student,
    create_order,
    create_school_order,
    payer_order,
    reinitiate_order,
)
from services.collection.handlers.refunds import (
    notify_refund_result,
    refund_refused_payment,
    request_refund,
    resolve_refund,
    submit_due_refunds,
)
from services.collection.order_expiry import expire_due_orders
from services.common.clock import CST, FixedClock
from services.common.errors import DomainError
from services.common.money import Fen
from tests.factories import resident_id
from tests.unit.fake_collection import FakeCollection

NOW = dt.datetime(2026, 10, 10, 9, 0, tzinfo=CST)
TTL = dt.timedelta(minutes=30)
PAYER = resident_id(dt.date(1975, 5, 5))


def reason(error: pytest.ExceptionInfo[DomainError]) -> str:
    return error.value.reason


@pytest.fixture
def tax() -> FakeCollection:
    return FakeCollection()


# -- orders (R19) -------------------------------------------------------------------------------


async def test_an_order_holds_its_items_and_totals_them(tax: FakeCollection) -> None:
    person = tax.add_person(resident_id(), "张三")
    a, b = tax.add_item(person, 2027, 40_000), tax.add_item(person, 2026, 38_000, payable_until=dt.date(2026, 12, 31))
    async with tax.uow() as uow:
        order = await create_order(PAYER.lower(), [a.payable_item_id, b.payable_item_id], uow, FixedClock(NOW), TTL)
        await uow.commit()
    assert (order.status, order.total_fen, order.expires_at) == (OrderStatus.PENDING, 78_000, NOW + TTL)
    assert [line.insurance_year for line in order.lines] == [2026, 2027]
    assert tax.state.item(a.payable_item_id).pending_order_id == order.order_id
    async with tax.uow() as uow:
        assert (await payer_order(uow, f" {PAYER} ", order.order_id)) == order  # the ID as typed


async def test_an_item_in_a_pending_order_cannot_be_ordered_again(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    async with tax.uow() as uow:
        await create_order(PAYER, [item.payable_item_id], uow, FixedClock(NOW), TTL)
        await uow.commit()
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as refused:
            await create_order(PAYER, [item.payable_item_id], uow, FixedClock(NOW), TTL)
    assert reason(refused) == "ITEM_IN_PENDING_ORDER"


async def test_an_order_past_expiry_frees_its_items_for_the_next_order(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    async with tax.uow() as uow:
        first = await create_order(PAYER, [item.payable_item_id], uow, FixedClock(NOW), TTL)
        await uow.commit()
    later = FixedClock(NOW + TTL)
    async with tax.uow() as uow:
        second = await create_order(PAYER, [item.payable_item_id], uow, later, TTL)
        await uow.commit()
    assert tax.state.orders[first.order_id].status is OrderStatus.EXPIRED
    assert tax.state.item(item.payable_item_id).pending_order_id == second.order_id


async def test_the_expiry_job_expires_only_overdue_orders(tax: FakeCollection) -> None:
    person = tax.add_person(resident_id(), "张三")
    old, fresh = tax.add_item(person, 2027), tax.add_item(person, 2027, fee_type=FeeType.RESIDENT_PENSION)
    async with tax.uow() as uow:
        expiring = await create_order(PAYER, [old.payable_item_id], uow, FixedClock(NOW - TTL), TTL)
        pending = await create_order(PAYER, [fresh.payable_item_id], uow, FixedClock(NOW), TTL)
        await uow.commit()
    assert await expire_due_orders(tax.factory(), FixedClock(NOW), 10) == 1
    assert tax.state.orders[expiring.order_id].status is OrderStatus.EXPIRED
    assert tax.state.orders[pending.order_id].status is OrderStatus.PENDING
    assert old.payable_item_id not in tax.state.holds
    assert await expire_due_orders(tax.factory(), FixedClock(NOW), 10) == 0


async def test_unknown_paid_and_closed_items_are_refused(tax: FakeCollection) -> None:
    person = tax.add_person(resident_id(), "张三")
    paid = tax.add_item(person, status=ItemStatus.PAID)
    closed = tax.add_item(person, payable_until=NOW.date() - dt.timedelta(days=1))
    unknown = "00000000-0000-0000-0000-00000000abcd"
    for item_id, expected in (
        (unknown, "PAYABLE_ITEM_NOT_FOUND"),
        (paid.payable_item_id, "ITEM_NOT_PAYABLE"),
        (closed.payable_item_id, "COLLECTION_WINDOW_CLOSED"),
    ):
        async with tax.uow() as uow:
            with pytest.raises(DomainError) as refused:
                await create_order(PAYER, [item_id], uow, FixedClock(NOW), TTL)
        assert reason(refused) == expected
    assert not tax.state.orders


async def test_reinitiating_expires_the_original_and_orders_the_same_items(tax: FakeCollection) -> None:
    person = tax.add_person(resident_id(), "张三")
    items = [
        tax.add_item(person).payable_item_id,
        tax.add_item(person, fee_type=FeeType.RESIDENT_PENSION).payable_item_id,
    ]
    async with tax.uow() as uow:
        original = await create_order(PAYER, items, uow, FixedClock(NOW), TTL)
        again = await reinitiate_order(PAYER, original.order_id, uow, FixedClock(NOW), TTL)
        await uow.commit()
    assert tax.state.orders[original.order_id].status is OrderStatus.EXPIRED
    assert again.reinitiated_from == original.order_id
    assert sorted(line.payable_item_id for line in again.lines) == sorted(items)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as other_payer:
            await reinitiate_order(resident_id(), again.order_id, uow, FixedClock(NOW), TTL)
    assert reason(other_payer) == "ORDER_NOT_FOUND"


async def test_a_paid_order_cannot_be_reinitiated(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    async with tax.uow() as uow:
        order = await create_order(PAYER, [item.payable_item_id], uow, FixedClock(NOW), TTL)
        await uow.commit()
    tax.state.orders[order.order_id] = replace(order, status=OrderStatus.PAID)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as refused:
            await reinitiate_order(PAYER, order.order_id, uow, FixedClock(NOW), TTL)
    assert reason(refused) == "ORDER_ALREADY_PAID"


async def test_a_school_order_includes_each_payable_student_and_reports_the_others(tax: FakeCollection) -> None:
    ok = tax.add_person(resident_id(dt.date(2012, 3, 1)), "李一")
    paid = tax.add_person(resident_id(dt.date(2012, 4, 1)), "李二")
    tax.add_item(ok)
    tax.add_item(paid, status=ItemStatus.PAID)
    students = [
        Student(ok.resident_id_number, "李一"),
        Student(paid.resident_id_number, "李二"),
        Student(ok.resident_id_number, "李一"),  # listed twice
        Student(resident_id(dt.date(2012, 5, 1)), "王五"),  # unknown here
        Student("not-an-id", "赵六"),
    ]
    async with tax.uow() as uow:
        order, outcomes = await create_school_order(PAYER, "S-001", 2027, students, uow, FixedClock(NOW), TTL)
        await uow.commit()
    assert order is not None and (order.kind, order.school_code) == (OrderKind.SCHOOL_COLLECTIVE, "S-001")
    assert [line.insured_id_number for line in order.lines] == [ok.resident_id_number]
    assert [o.error.reason if o.error else "INCLUDED" for o in outcomes] == [
        "INCLUDED",
        "NO_PAYABLE_ITEM",
        "DUPLICATE_STUDENT",
        "INSURED_PERSON_NOT_MATCHED",
        "INVALID_RESIDENT_ID",
    ]
    assert outcomes[4].error is not None and outcomes[4].error.field == "resident_id_number"


async def test_a_school_order_with_no_payable_student_creates_nothing(tax: FakeCollection) -> None:
    student = tax.add_person(resident_id(dt.date(2012, 3, 1)), "李一")
    async with tax.uow() as uow:
        order, outcomes = await create_school_order(
            PAYER, "S-001", 2027, [Student(student.resident_id_number, "李一")], uow, FixedClock(NOW), TTL
        )
    assert order is None and outcomes[0].error is not None
    assert not tax.state.orders


# -- refunds (R23, R14) ---------------------------------------------------------------------------


async def _requested(tax: FakeCollection, payment_id: str) -> Refund:
    async with tax.uow() as uow:
        refund = await request_refund(payment_id, "officer-7", " duplicate ", uow, FixedClock(NOW))
        await uow.commit()
    return refund


async def test_a_requested_refund_starts_pending_and_is_sent_by_the_refund_job(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    payment = tax.add_payment([item], paid_at=NOW)
    refund = await _requested(tax, payment.payment_id)
    assert (refund.status, refund.reason, refund.amount_fen) == (RefundStatus.PENDING, RefundReason.REQUESTED, 40_000)

    class Accepting:
        async def submit(self, refund: Refund) -> str:
            return f"CH-{refund.refund_id[:4]}"

    assert await submit_due_refunds(tax.factory(), FixedClock(NOW), 10, Accepting()) == 1
    submitted = tax.state.refunds[refund.refund_id]
    assert (submitted.status, submitted.attempts) == (RefundStatus.SUBMITTED, 1)
    assert await submit_due_refunds(tax.factory(), FixedClock(NOW), 10, Accepting()) == 0


async def test_a_refund_result_reverses_the_payment_and_owes_the_item_again(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    payment = tax.add_payment([item], paid_at=NOW)
    refund = await _requested(tax, payment.payment_id)
    tax.state.refunds[refund.refund_id] = replace(refund, status=RefundStatus.SUBMITTED)  # the job sent it
    async with tax.uow() as uow:
        done = await notify_refund_result(refund.refund_id, " CH-1 ", True, "", uow, FixedClock(NOW))
        await uow.commit()
    assert (done.status, done.channel_refund_id) == (RefundStatus.SUCCEEDED, "CH-1")
    assert tax.state.payments[payment.payment_id].reversed_at == NOW
    assert tax.state.items[item.payable_item_id].status is ItemStatus.UNPAID
    assert tax.event_names() == ["payment.refunded"]
    async with tax.uow() as uow:  # the channel repeats its success: harmless
        assert (await notify_refund_result(refund.refund_id, "CH-1", True, "", uow, FixedClock(NOW))) == done
    assert tax.event_names() == ["payment.refunded"]


async def test_an_item_of_a_stopped_enrollment_is_cancelled_when_its_payment_is_refunded(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    tax.state.enrollment_states[item.enrollment_id] = EnrollmentState.STOPPED
    payment = tax.add_payment([item], paid_at=NOW)
    refund = await _requested(tax, payment.payment_id)
    for _ in range(MAX_ATTEMPTS):  # every failure counts; the last one leaves it to an officer
        await tax_fail(tax, refund.refund_id)
    assert tax.state.refunds[refund.refund_id].status is RefundStatus.MANUAL_HANDLING
    async with tax.uow() as uow:
        await resolve_refund(refund.refund_id, "officer-7", True, "paid back at the counter", uow, FixedClock(NOW))
        await uow.commit()
    assert tax.state.items[item.payable_item_id].status is ItemStatus.CANCELLED


async def tax_fail(tax: FakeCollection, refund_id: str) -> None:
    """The channel refuses a submitted refund."""
    refund = tax.state.refunds[refund_id]
    tax.state.refunds[refund_id] = replace(refund, status=RefundStatus.SUBMITTED, attempts=refund.attempts + 1)
    async with tax.uow() as uow:
        await notify_refund_result(refund_id, "", False, "card closed", uow, FixedClock(NOW))
        await uow.commit()


async def test_resolving_without_success_sends_the_refund_again(tax: FakeCollection) -> None:
    payment = tax.add_payment([tax.add_item(tax.add_person(resident_id(), "张三"))], paid_at=NOW)
    refund = await _requested(tax, payment.payment_id)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as not_manual:
            await resolve_refund(refund.refund_id, "officer-7", False, "", uow, FixedClock(NOW))
    assert reason(not_manual) == "REFUND_NOT_IN_MANUAL_HANDLING"
    for _ in range(MAX_ATTEMPTS):
        await tax_fail(tax, refund.refund_id)
    async with tax.uow() as uow:
        again = await resolve_refund(refund.refund_id, "officer-7", False, "", uow, FixedClock(NOW))
        await uow.commit()
    assert again.status is RefundStatus.PENDING
    assert tax.state.payments[payment.payment_id].reversed_at is None


async def test_only_applied_unreversed_payments_are_refundable(tax: FakeCollection) -> None:
    person = tax.add_person(resident_id(), "张三")
    raised = tax.add_payment([tax.add_item(person)], outcome=PaymentOutcome.REFUND_RAISED, paid_at=NOW)
    subsidy = tax.add_payment([tax.add_item(person)], outcome=PaymentOutcome.SUBSIDY, paid_at=NOW)
    for payment_id, expected in (
        (raised.payment_id, "PAYMENT_NOT_REFUNDABLE"),
        (subsidy.payment_id, "PAYMENT_NOT_REFUNDABLE"),
        ("not-a-payment", "PAYMENT_NOT_FOUND"),
        ("00000000-0000-0000-0000-000000000001", "PAYMENT_NOT_FOUND"),
    ):
        async with tax.uow() as uow:
            with pytest.raises(DomainError) as refused:
                await request_refund(payment_id, "officer-7", "", uow, FixedClock(NOW))
        assert reason(refused) == expected
    assert not tax.state.refunds


async def test_a_second_request_for_the_same_payment_is_refused(tax: FakeCollection) -> None:
    payment = tax.add_payment([tax.add_item(tax.add_person(resident_id(), "张三"))], paid_at=NOW)
    await _requested(tax, payment.payment_id)
    async with tax.uow() as uow:
        with pytest.raises(DomainError) as twice:
            await request_refund(payment.payment_id, "officer-8", "", uow, FixedClock(NOW))
    assert reason(twice) == "REFUND_EXISTS"
    assert len(tax.state.refunds) == 1


async def test_a_refused_coverage_refunds_the_payment_once(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    payment = tax.add_payment([item], paid_at=NOW)
    async with tax.uow() as uow:
        first = await refund_refused_payment(
            payment.payment_id, [item.payable_item_id], "ENROLLED_ELSEWHERE", uow, FixedClock(NOW)
        )
        second = await refund_refused_payment(
            payment.payment_id, [item.payable_item_id], "ENROLLED_ELSEWHERE", uow, FixedClock(NOW)
        )
        await uow.commit()
    assert first is not None and second is None
    assert tax.state.refunds[first].reason is RefundReason.COVERAGE_REFUSED
    assert tax.state.notes[item.payable_item_id] == "COVERAGE_REFUSED: ENROLLED_ELSEWHERE"


async def test_a_refused_subsidy_settlement_is_cancelled_not_refunded(tax: FakeCollection) -> None:
    item = tax.add_item(tax.add_person(resident_id(), "张三"), amount=0)
    payment = tax.add_payment([item], paid_at=NOW)
    async with tax.uow() as uow:
        assert (
            await refund_refused_payment(payment.payment_id, [item.payable_item_id], "X", uow, FixedClock(NOW)) is None
        )
        await uow.commit()
    assert not tax.state.refunds
    assert tax.state.items[item.payable_item_id].status is ItemStatus.CANCELLED


async def test_a_family_account_refund_goes_back_to_the_account_without_a_channel(tax: FakeCollection) -> None:
    holder = resident_id(dt.date(1970, 1, 1))
    async with tax.uow() as uow:
        await uow.payments.set_family_account(holder, Fen(1_000), NOW)
        await uow.commit()
    item = tax.add_item(tax.add_person(resident_id(), "张三"))
    payment = tax.add_payment([item], channel=Channel.FAMILY_MUTUAL_AID, paid_at=NOW, family_holder=holder)
    refund = await _requested(tax, payment.payment_id)

    class Unreachable:
        async def submit(self, refund: Refund) -> str:
            raise AssertionError("a family account refund calls no channel")

    assert await submit_due_refunds(tax.factory(), FixedClock(NOW), 10, Unreachable()) == 1
    assert tax.state.refunds[refund.refund_id].status is RefundStatus.SUCCEEDED
    assert tax.state.accounts[holder].balance_fen == 41_000


async def test_a_failed_submission_is_retried_later_and_an_uncommitted_unit_changes_nothing(
    tax: FakeCollection,
) -> None:
    payment = tax.add_payment([tax.add_item(tax.add_person(resident_id(), "张三"))], paid_at=NOW)
    refund = await _requested(tax, payment.payment_id)

    class Refusing:
        async def submit(self, refund: Refund) -> str:
            raise RuntimeError("channel down")

    assert await submit_due_refunds(tax.factory(), FixedClock(NOW), 10, Refusing()) == 1
    failed = tax.state.refunds[refund.refund_id]
    assert (failed.status, failed.failure_reason) == (RefundStatus.FAILED, "channel down")
    assert await submit_due_refunds(tax.factory(), FixedClock(NOW), 10, Refusing()) == 0  # not due yet
    async with tax.uow() as uow:  # leaves without committing
        await uow.refunds.set_state(refund.refund_id, RefundStatus.SUCCEEDED, NOW)
    assert tax.state.refunds[refund.refund_id].status is RefundStatus.FAILED
