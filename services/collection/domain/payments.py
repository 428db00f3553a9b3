"""What a channel's payment does (R21-R23): apply it to its items, or record it and raise a refund.

A payment is judged by the time the channel says the money moved (R21a), not by when we hear of it."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from services.collection.domain.model import Channel, ItemStatus, OrderStatus, RefundReason
from services.common.clock import CST
from services.common.errors import Conflict, FailedPrecondition, InvalidArgument
from services.common.money import MAX_AMOUNT_FEN, Fen


@dataclass(frozen=True)
class ChannelPayment:
    """A payment notification in normalised form, whatever the channel's own shape."""

    channel: Channel
    transaction_id: str
    order_id: str
    amount_fen: Fen
    paid_at: dt.datetime
    payload_sha256: bytes
    family_holder_id_number: str | None = None


@dataclass(frozen=True)
class OrderState:
    order_id: str
    status: OrderStatus
    total_fen: Fen
    payer_id_number: str = ""


@dataclass(frozen=True)
class ItemState:
    payable_item_id: str
    status: ItemStatus
    payable_until: dt.date
    channel_opens: tuple[tuple[str, dt.date], ...] = ()  # R49


class Outcome(enum.Enum):
    APPLY = "APPLY"
    REFUND = "REFUND"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    refund_reason: RefundReason | None = None


@dataclass(frozen=True)
class RecordedPayment:
    order_id: str
    amount_fen: Fen


def check_payment_time(paid_at: dt.datetime, now: dt.datetime, skew: dt.timedelta) -> None:
    """A payment time in the future (beyond clock skew) is refused (R21a)."""
    if paid_at > now + skew:
        raise InvalidArgument(
            "PAYMENT_TIME_IN_FUTURE",
            f"the channel reports payment at {paid_at.isoformat()}, after now ({now.isoformat()})",
            "渠道报告的支付时间晚于当前时间",
            field="payload",
            metadata={"paid_at": paid_at.isoformat(), "now": now.isoformat()},
        )


def check_replay(recorded: RecordedPayment, payment: ChannelPayment) -> None:
    """The same channel transaction again must be the same payment; otherwise it is a conflict (R21)."""
    if (recorded.order_id, recorded.amount_fen) != (payment.order_id, payment.amount_fen):
        raise Conflict(
            "CHANNEL_TRANSACTION_CONFLICT",
            f"{payment.channel} transaction {payment.transaction_id} was recorded for order {recorded.order_id} "
            f"with {recorded.amount_fen} fen, not order {payment.order_id} with {payment.amount_fen} fen",
            "该渠道交易流水号已对应另一笔不同的缴费,本次通知不予处理",
            metadata={
                "channel": payment.channel,
                "channel_transaction_id": payment.transaction_id,
                "recorded_order_id": recorded.order_id,
                "recorded_amount_fen": recorded.amount_fen,
                "notified_order_id": payment.order_id,
                "notified_amount_fen": payment.amount_fen,
            },
        )


def decide(order: OrderState, items: Sequence[ItemState], payment: ChannelPayment) -> Decision:
    """Apply the money to the order's items, or keep it and refund it.

    - amount ≠ order total → refused (R22);
    - the order or any item already paid (another order or channel), or fully subsidised → refund (R23);
    - any item cancelled (stopped) → refund;
    - paid after an item's last payable day, CST (window or newborn deadline) → refund, no coverage (R4, R14);
    - paid through a channel before the day it opens for an item's year → refund (R49);
    - otherwise apply, whether the order is still pending or already expired (a late payment for
      unpaid items is real money for real items, R23).
    """
    if payment.amount_fen != order.total_fen:
        raise FailedPrecondition(
            "AMOUNT_MISMATCH",
            f"notified amount {payment.amount_fen} fen differs from order total {order.total_fen} fen",
            "支付金额与订单金额不一致",
            metadata={
                "order_id": order.order_id,
                "order_total_fen": order.total_fen,
                "notified_amount_fen": payment.amount_fen,
            },
        )
    if order.status is OrderStatus.PAID:
        return Decision(Outcome.REFUND, RefundReason.DOUBLE_PAYMENT)
    if any(i.status is ItemStatus.CANCELLED for i in items):
        return Decision(Outcome.REFUND, RefundReason.ITEMS_CANCELLED)
    if any(i.status in (ItemStatus.PAID, ItemStatus.SETTLED_BY_SUBSIDY) for i in items):
        return Decision(Outcome.REFUND, RefundReason.DOUBLE_PAYMENT)
    paid_on = payment.paid_at.astimezone(CST).date()
    if any(paid_on > i.payable_until for i in items):
        return Decision(Outcome.REFUND, RefundReason.OUTSIDE_WINDOW)
    if any(paid_on < opens for i in items for channel, opens in i.channel_opens if channel == payment.channel):
        return Decision(Outcome.REFUND, RefundReason.CHANNEL_NOT_OPEN)
    return Decision(Outcome.APPLY)


def refused_family_payment(decision: Decision) -> FailedPrecondition:
    """From a family account no money has moved yet: what would be refunded is refused instead."""
    return FailedPrecondition(
        "ITEMS_NOT_PAYABLE",
        f"the order cannot be paid now ({decision.refund_reason}); nothing was taken from the family account",
        "该订单当前不可缴费,家庭共济账户未扣款",
        metadata={"reason": str(decision.refund_reason)},
    )


def check_positive_amount(amount: int) -> Fen:
    """Zero or negative amounts where a payment is meant are invalid input (R3), and so is anything above
    the largest amount a payment may have (R34), before any arithmetic or SQL sees it."""
    if amount <= 0:
        raise InvalidArgument(
            "INVALID_AMOUNT", f"amount must be positive fen, got {amount}", "支付金额必须大于0", field="payload"
        )
    if amount > MAX_AMOUNT_FEN:
        raise InvalidArgument(
            "INVALID_AMOUNT",
            f"amount must be at most {MAX_AMOUNT_FEN} fen",
            "支付金额超出上限",
            field="payload",
            metadata={"maximum_fen": MAX_AMOUNT_FEN},
        )
    return Fen(amount)


def receipt_number(paid_on: dt.date, sequence: int) -> str:
    """A receipt (票据) number: PJ, the CST payment date, a 12-digit sequence. Unique by its sequence."""
    return f"PJ{paid_on:%Y%m%d}{sequence:012d}"
