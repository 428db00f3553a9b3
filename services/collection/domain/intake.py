"""What the payment intake does with one channel notification (R20-R23, R46), decided without I/O.

The intake reads a `NotificationView` (and, for the family account, a `FamilyView`), `decide` turns it
into one intent (apply, raise a refund, answer again), and the write of that intent says whether it stood
(`Written`). A use case ends in one typed `IntakeOutcome`."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from services.collection.domain.family import check_payable_from_account
from services.collection.domain.model import Channel, PayableItem, PaymentOutcome, PaymentResult
from services.collection.domain.payments import (
    ChannelPayment,
    ItemState,
    OrderState,
    Outcome,
    RecordedPayment,
    check_replay,
    receipt_number,
    refused_family_payment,
)
from services.collection.domain.payments import (
    decide as decide_payment,
)
from services.collection.domain.refunds import NewRefund
from services.common.clock import CST
from services.common.errors import DomainError, FailedPrecondition, NotFound
from services.common.money import Fen
from services.common.request_keys import RequestKey


@dataclass(frozen=True)
class Notification:
    """A channel's notification as it reached us, before anything about it is believed."""

    channel: int  # the number sent: it may name no channel
    channel_label: str  # the channel as its record stores it: its name, or UNDEFINED_<number>
    payload: bytes  # the raw body, exactly as the channel sent it
    headers: tuple[tuple[str, str], ...]  # the channel's headers (its signature, for most channels: R42)
    caller: str
    # The caller's request id (AIP-155) and the fingerprint of its request without it; None for a
    # channel's own callback (R44), whose key is its channel transaction's (`callback_key`): a resend
    # of the callback is a replay.
    request_id: str | None
    fingerprint: bytes

    @property
    def header_map(self) -> dict[str, str]:
        """The headers by lower-case name (HTTP header names are case-insensitive); a header sent twice
        keeps its last value."""
        return {name.lower(): value for name, value in self.headers}


def callback_key(caller: str, method: str, payment: ChannelPayment) -> RequestKey:
    """The request key of a channel's callback (R44): one per channel transaction, order and amount,
    so the channel's resends of one callback replay its answer, and a callback that reuses the
    transaction id for another order or amount is a new request, refused as a conflict (R21)."""
    what = f"{payment.channel.value}|{payment.transaction_id}|{payment.order_id}|{payment.amount_fen}"
    digest = hashlib.sha256(what.encode("utf-8")).digest()
    return RequestKey(caller, method, f"callback-{digest[:16].hex()}", digest)


@dataclass(frozen=True)
class StoredRequest:
    """The request-id record of an earlier call with the same key."""

    fingerprint: bytes
    response: bytes | None


@dataclass(frozen=True)
class NotificationView:
    """What the decision on one notification reads: the request-id record, an earlier payment of the same
    channel transaction, and, when there is neither, the order (locked; None if there is no such order),
    its items (locked, in id order) and a receipt number's sequence to use if the payment is applied."""

    stored_request: StoredRequest | None
    recorded: tuple[RecordedPayment, PaymentResult] | None
    order: OrderState | None
    items: tuple[PayableItem, ...]
    receipt_sequence: int | None


@dataclass(frozen=True)
class FamilyView:
    """The family mutual-aid account a payment would be taken from (R20a, R46): who of the order's
    insured are bound to it, and its balance, locked (0 when there is no account)."""

    holder: str
    bound: frozenset[str]
    balance_fen: Fen


@dataclass(frozen=True)
class NotificationRecord:
    """What a channel sent and what became of it (R21b), kept whatever the outcome."""

    channel: str
    payload_sha256: bytes
    payload_size: int
    payload_sample: str
    outcome: str
    received_at: dt.datetime
    payment: ChannelPayment | None = None
    payment_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    """The request-id record to write with the effect, and the response it answers retries with."""

    key: RequestKey
    response: bytes


@dataclass(frozen=True)
class Written:
    """What a write inserted. Incomplete means a concurrent notification recorded the same channel
    transaction or request id first, and nothing of this one may stand: roll back and read again."""

    payment: bool
    request: bool

    @property
    def complete(self) -> bool:
        return self.payment and self.request


# -- intents: what the decision asks to be written ----------------------------------------------


@dataclass(frozen=True)
class ApplyPayment:
    """The money applied to the order's items; a receipt, payment.confirmed; the family debit, if any."""

    payment: ChannelPayment
    payer: str
    items: tuple[PayableItem, ...]
    family_holder: str | None
    result: PaymentResult


@dataclass(frozen=True)
class RaiseRefund:
    """The money kept and its refund raised (R23)."""

    payment: ChannelPayment
    payer: str
    refund: NewRefund
    result: PaymentResult


@dataclass(frozen=True)
class AnswerAgain:
    """The notification answered as the earlier one of the same channel transaction was (R21)."""

    result: PaymentResult


Intent = ApplyPayment | RaiseRefund | AnswerAgain


# -- outcomes: what the intake answers --------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    result: PaymentResult


@dataclass(frozen=True)
class RefundRaised:
    result: PaymentResult


@dataclass(frozen=True)
class Replayed:
    """Answered from an earlier notification (same request id, or same channel transaction)."""

    result: PaymentResult


@dataclass(frozen=True)
class Refused:
    error: DomainError


@dataclass(frozen=True)
class Raced:
    """A concurrent notification of the same transaction or request id committed first; nothing of this
    one stands, and reading again will see that one's record."""


IntakeOutcome = Applied | RefundRaised | Replayed | Refused | Raced


def outcome_of(intent: Intent) -> Applied | RefundRaised | Replayed:
    """What the intake answers once `intent` has been written."""
    match intent:
        case ApplyPayment(result=result):
            return Applied(result)
        case RaiseRefund(result=result):
            return RefundRaised(result)
        case AnswerAgain(result=result):
            return Replayed(result)


def needs_family_view(view: NotificationView, payment: ChannelPayment) -> bool:
    """Whether the decision also reads the family account: a family payment not yet decided."""
    return payment.channel is Channel.FAMILY_MUTUAL_AID and view.recorded is None and view.order is not None


def decide(
    view: NotificationView,
    payment: ChannelPayment,
    family: FamilyView | None,
    *,
    now: dt.datetime,
    payment_id: str,
    refund_id: str,
) -> Intent:
    """The one intent for a notification whose request id is new: answered again when its channel
    transaction is recorded (a conflict if it differs), else applied or refunded (R21-R23); refused (a
    DomainError) for an order that does not exist, an amount that is not the order's, and a family
    payment that cannot be taken (R46: unbound member, items not payable, balance short)."""
    if view.recorded is not None:
        recorded, result = view.recorded
        check_replay(recorded, payment)
        return AnswerAgain(result)
    order = view.order
    if order is None:
        raise order_not_found(payment)
    states = [ItemState(i.payable_item_id, i.status, i.payable_until, i.channel_opens) for i in view.items]
    decision = decide_payment(order, states, payment)
    family_holder = None
    if payment.channel is Channel.FAMILY_MUTUAL_AID:
        assert family is not None  # read whenever needs_family_view
        check_payable_from_account(family.holder, [i.resident_id_number for i in view.items], family.bound)
        if decision.outcome is Outcome.REFUND:
            raise refused_family_payment(decision)
        _check_balance(family, payment)
        family_holder = family.holder
    if decision.outcome is Outcome.REFUND:
        assert decision.refund_reason is not None
        refunded = PaymentResult(PaymentOutcome.REFUND_RAISED, payment_id, order.order_id, refund_id=refund_id)
        refund = NewRefund(refund_id, payment_id, payment.channel, payment.amount_fen, decision.refund_reason, now)
        return RaiseRefund(payment, order.payer_id_number, refund, refunded)
    assert view.receipt_sequence is not None  # taken whenever the order was locked undecided
    receipt = receipt_number(payment.paid_at.astimezone(CST).date(), view.receipt_sequence)
    applied = PaymentResult(PaymentOutcome.APPLIED, payment_id, order.order_id, receipt_number=receipt)
    return ApplyPayment(payment, order.payer_id_number, view.items, family_holder, applied)


def _check_balance(family: FamilyView, payment: ChannelPayment) -> None:
    """Nothing is taken from the account beyond its balance (R20a)."""
    if family.balance_fen < payment.amount_fen:
        raise FailedPrecondition(
            "FAMILY_BALANCE_SHORT",
            f"the family mutual-aid account holds {family.balance_fen} fen, the order needs {payment.amount_fen}",
            "家庭共济账户余额不足,请选择其他缴费方式",
            metadata={"balance_fen": family.balance_fen, "needed_fen": payment.amount_fen},
        )


def order_not_found(payment: ChannelPayment) -> NotFound:
    return NotFound(
        "ORDER_NOT_FOUND",
        f"the notification names order {payment.order_id}, which does not exist",
        "缴费通知中的订单不存在",
        metadata={"order_id": payment.order_id},
    )
