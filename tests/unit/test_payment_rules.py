"""R21-R23: what a channel's payment does; R19 order totals; refunds' back-off."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collection.domain.model import (
    Channel,
    FeeType,
    ItemStatus,
    OrderStatus,
    PayableItem,
    RefundReason,
    RefundStatus,
)
from services.collection.domain.orders import check_payable, checked_selection, order_total
from services.collection.domain.payments import (
    ChannelPayment,
    ItemState,
    OrderState,
    Outcome,
    RecordedPayment,
    check_payment_time,
    check_replay,
    decide,
    receipt_number,
)
from services.collection.domain.refunds import MAX_ATTEMPTS, after_failure
from services.common.clock import CST
from services.common.errors import Conflict, FailedPrecondition, InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange

D = dt.date
LAST_DAY = D(2023, 12, 31)
ORDER = OrderState("o1", OrderStatus.PENDING, Fen(38000))


def paid(at: dt.datetime, amount: int = 38000, order: str = "o1") -> ChannelPayment:
    return ChannelPayment(Channel.WECHAT, "t1", order, Fen(amount), at, b"")


def items(*statuses: ItemStatus, until: D = LAST_DAY) -> list[ItemState]:
    return [ItemState(f"i{n}", s, until) for n, s in enumerate(statuses)]


def test_the_last_second_of_the_window_applies_and_the_first_of_the_new_year_refunds() -> None:
    on_time = dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST)
    late = dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=CST)
    assert decide(ORDER, items(ItemStatus.UNPAID), paid(on_time)).outcome is Outcome.APPLY
    decision = decide(ORDER, items(ItemStatus.UNPAID), paid(late))
    assert (decision.outcome, decision.refund_reason) == (Outcome.REFUND, RefundReason.OUTSIDE_WINDOW)


def test_the_window_is_judged_in_cst_whatever_offset_the_channel_used() -> None:
    # 16:00 UTC on 31 Dec is 00:00 on 1 Jan in CST: too late.
    utc = dt.datetime(2023, 12, 31, 16, 0, 0, tzinfo=dt.UTC)
    assert decide(ORDER, items(ItemStatus.UNPAID), paid(utc)).refund_reason is RefundReason.OUTSIDE_WINDOW


def test_an_expired_order_whose_items_are_unpaid_still_applies() -> None:
    expired = OrderState("o1", OrderStatus.EXPIRED, Fen(38000))
    assert (
        decide(expired, items(ItemStatus.UNPAID), paid(dt.datetime(2023, 11, 20, tzinfo=CST))).outcome is Outcome.APPLY
    )


@pytest.mark.parametrize(
    ("order_status", "item_status", "reason"),
    [
        (OrderStatus.PAID, ItemStatus.PAID, RefundReason.DOUBLE_PAYMENT),
        (OrderStatus.EXPIRED, ItemStatus.PAID, RefundReason.DOUBLE_PAYMENT),
        (OrderStatus.PENDING, ItemStatus.SETTLED_BY_SUBSIDY, RefundReason.DOUBLE_PAYMENT),
        (OrderStatus.PENDING, ItemStatus.CANCELLED, RefundReason.ITEMS_CANCELLED),
    ],
)
def test_money_for_items_that_need_none_is_refunded(
    order_status: OrderStatus, item_status: ItemStatus, reason: RefundReason
) -> None:
    order = OrderState("o1", order_status, Fen(38000))
    decision = decide(order, items(item_status), paid(dt.datetime(2023, 11, 20, tzinfo=CST)))
    assert (decision.outcome, decision.refund_reason) == (Outcome.REFUND, reason)


def test_an_amount_other_than_the_total_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        decide(ORDER, items(ItemStatus.UNPAID), paid(dt.datetime(2023, 11, 20, tzinfo=CST), amount=38001))
    assert refused.value.reason == "AMOUNT_MISMATCH"
    assert refused.value.metadata == {"order_id": "o1", "order_total_fen": "38000", "notified_amount_fen": "38001"}


def test_a_replay_must_match_what_was_recorded() -> None:
    at = dt.datetime(2023, 11, 20, tzinfo=CST)
    check_replay(RecordedPayment("o1", Fen(38000)), paid(at))
    with pytest.raises(Conflict):
        check_replay(RecordedPayment("o1", Fen(38000)), paid(at, amount=100))
    with pytest.raises(Conflict):
        check_replay(RecordedPayment("o2", Fen(38000)), paid(at))


def test_a_payment_time_beyond_the_skew_is_refused() -> None:
    now = dt.datetime(2023, 11, 20, 10, 0, 0, tzinfo=CST)
    skew = dt.timedelta(seconds=5)
    check_payment_time(now + skew, now, skew)
    with pytest.raises(InvalidArgument) as refused:
        check_payment_time(now + skew + dt.timedelta(seconds=1), now, skew)
    assert refused.value.reason == "PAYMENT_TIME_IN_FUTURE"


def item(
    amount: int, status: ItemStatus = ItemStatus.UNPAID, until: D = LAST_DAY, held: str | None = None
) -> PayableItem:
    return PayableItem(
        payable_item_id="5b2c9a48-0d6e-4c43-9a55-3a7b8f1d2e01",
        enrollment_id="e",
        resident_id_number="n",
        insured_name="x",
        region_code="340800",
        category="MINOR",
        insurance_year=2024,
        fee_type=FeeType.RESIDENT_MEDICAL,
        standard_fen=Fen(amount),
        subsidy_fen=Fen(0),
        amount_fen=Fen(amount),
        status=status,
        policy_version=1,
        collection_window=DateRange(D(2023, 9, 1), LAST_DAY),
        payable_until=until,
        coverage=DateRange(D(2024, 1, 1), D(2024, 12, 31)),
        newborn_current_year=False,
        pending_order_id=held,
    )


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=100))
def test_an_order_total_is_the_exact_sum_of_its_items(amounts: list[int]) -> None:
    total = order_total([item(a) for a in amounts])
    assert isinstance(total, int) and total == sum(amounts)


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (item(38000, ItemStatus.PAID), "ITEM_NOT_PAYABLE"),
        (item(38000, ItemStatus.CANCELLED), "ITEM_NOT_PAYABLE"),
        (item(38000, until=D(2023, 11, 19)), "COLLECTION_WINDOW_CLOSED"),
        (item(38000, held="o9"), "ITEM_IN_PENDING_ORDER"),
    ],
)
def test_only_unpaid_unheld_payable_items_go_into_an_order(candidate: PayableItem, reason: str) -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_payable(candidate, D(2023, 11, 20))
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        ([], "FIELD_REQUIRED"),
        (["x"], "INVALID_ITEM_ID"),
        (["5b2c9a48-0d6e-4c43-9a55-3a7b8f1d2e01"] * 2, "DUPLICATE_ITEM"),
    ],
)
def test_a_bad_selection_is_invalid(ids: list[str], reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        checked_selection(ids)
    assert refused.value.reason == reason


def test_refund_failures_back_off_then_go_to_an_officer() -> None:
    now = dt.datetime(2023, 11, 20, tzinfo=CST)
    status, retry_at = after_failure(1, now)
    assert status is RefundStatus.FAILED and retry_at > now
    assert after_failure(MAX_ATTEMPTS, now)[0] is RefundStatus.MANUAL_HANDLING


def test_receipt_numbers_carry_the_payment_date_and_a_sequence() -> None:
    assert receipt_number(D(2023, 12, 31), 42) == "PJ20231231000000000042"


def test_a_channel_before_its_opening_day_is_refunded_and_from_that_day_applies() -> None:
    """R49, Changzhou (seed 000): 11月1日起 ... 也可通过银行柜台、微信、支付宝、POS机刷卡 ... 缴费: WeChat opens
    on 1 Nov; the social security card (not listed) takes payments all through the window."""
    opens = (("WECHAT", D(2023, 11, 1)),)
    state = [ItemState("i0", ItemStatus.UNPAID, LAST_DAY, opens)]
    early = decide(ORDER, state, paid(dt.datetime(2023, 10, 31, 23, 59, 59, tzinfo=CST)))
    assert (early.outcome, early.refund_reason) == (Outcome.REFUND, RefundReason.CHANNEL_NOT_OPEN)
    assert decide(ORDER, state, paid(dt.datetime(2023, 11, 1, 0, 0, 0, tzinfo=CST))).outcome is Outcome.APPLY
    card = ChannelPayment(
        Channel.SOCIAL_SECURITY_CARD, "t2", "o1", Fen(38000), dt.datetime(2023, 9, 2, tzinfo=CST), b""
    )
    assert decide(ORDER, state, card).outcome is Outcome.APPLY
