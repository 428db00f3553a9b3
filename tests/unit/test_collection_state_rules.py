"""The collection rules that used to be written in SQL or twice in handlers, each in one place in the
domain (issue 20 item 2): which payment is refundable, when an order is overdue (R19), where a refund
starts, and how a state is spelled in the few statements that must name it."""

from __future__ import annotations

import datetime as dt
import enum

import pytest

from services.collection.domain import refunds
from services.collection.domain.model import OrderStatus, PaymentOutcome, RefundStatus
from services.collection.domain.orders import is_overdue
from services.collection.sql_literals import state_literal
from services.common.clock import CST

NOW = dt.datetime(2026, 12, 3, 10, 0, tzinfo=CST)


def test_only_applied_money_not_yet_reversed_is_refundable() -> None:
    assert refunds.is_refundable(PaymentOutcome.APPLIED, reversed_=False)
    assert not refunds.is_refundable(PaymentOutcome.APPLIED, reversed_=True)
    assert not refunds.is_refundable(PaymentOutcome.REFUND_RAISED, reversed_=False)
    assert not refunds.is_refundable(PaymentOutcome.SUBSIDY, reversed_=False)


def test_a_pending_order_is_overdue_from_its_expiry_time_on() -> None:
    second = dt.timedelta(seconds=1)
    assert not is_overdue(OrderStatus.PENDING, NOW + second, NOW)
    assert is_overdue(OrderStatus.PENDING, NOW, NOW)
    assert is_overdue(OrderStatus.PENDING, NOW - second, NOW)


def test_a_paid_or_expired_order_is_never_overdue() -> None:
    assert not is_overdue(OrderStatus.PAID, NOW - dt.timedelta(days=1), NOW)
    assert not is_overdue(OrderStatus.EXPIRED, NOW - dt.timedelta(days=1), NOW)


def test_a_refund_starts_pending_and_a_failed_one_leaves_room_for_another() -> None:
    assert refunds.INITIAL_STATUS is RefundStatus.PENDING
    assert refunds.INITIAL_STATUS in refunds.CLAIMABLE
    assert refunds.NOT_LIVE is RefundStatus.FAILED


def test_states_are_spelled_as_sql_literals_and_nothing_else_is() -> None:
    assert state_literal(RefundStatus.FAILED) == "'FAILED'"
    assert state_literal(OrderStatus.PENDING, OrderStatus.PAID) == "'PENDING', 'PAID'"

    class Hostile(enum.StrEnum):
        QUOTE = "X' OR '1'='1"

    with pytest.raises(ValueError, match="not a state name"):
        state_literal(Hostile.QUOTE)
