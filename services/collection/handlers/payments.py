"""Applying a channel's payment (R20-R23): exactly one effect per channel transaction.

Concurrent deliveries of one notification serialise on the order's row lock; the first records the
payment, the others find it and get its result back. A decision is read in one statement and written in
one (payment_intake_repository). The same transaction id with another order or
amount is a conflict and changes nothing. The payment, its receipt and its payment.confirmed event
commit together."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence

import structlog
from medins.events.v1 import events_pb2

from services.collection import events
from services.collection.channels.formats import parse
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.model import Channel, NotificationOutcome, PayableItem, PaymentOutcome, PaymentResult
from services.collection.domain.payments import (
    ChannelPayment,
    ItemState,
    Outcome,
    check_payment_time,
    check_replay,
    decide,
    receipt_number,
    refused_family_payment,
)
from services.collection.handlers.family import check_account_pays_for
from services.collection.payment_intake_repository import (
    NotificationRecord,
    NotificationView,
    RequestRecord,
    Written,
)
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import CST, Clock
from services.common.errors import Conflict, FailedPrecondition, NotFound, Unauthenticated
from services.common.messaging import envelope as event_types
from services.common.resident_id import parse_resident_id

log = structlog.get_logger(__name__)

# The notification record's outcome for a notification answered from an earlier one.
REPLAYED = NotificationOutcome.DUPLICATE_REPLAYED


def verified_payment(channel: Channel, payload: bytes, signature: str, verifier: SignatureVerifier) -> ChannelPayment:
    """The normalised payment, once the channel's signature checks out."""
    if not verifier.verify(channel, payload, signature):
        raise Unauthenticated(
            "SIGNATURE_INVALID",
            f"the {channel} notification's signature does not verify",
            "缴费通知签名验证失败",
            field="signature",
        )
    return parse(channel, payload)


async def apply_payment(
    uow: CollectionUnitOfWork,
    payment: ChannelPayment,
    view: NotificationView,
    answer: Callable[[PaymentResult], RequestRecord] | None,
    record: Callable[[str, str], NotificationRecord] | None,
    now: dt.datetime,
) -> tuple[PaymentResult, bool] | Written:
    """Decides on a notification whose order `view` holds locked, and writes every effect in one
    statement: applied, or recorded with its refund raised, or answered as the earlier notification of
    the same channel transaction was. `answer` makes the request-id record and `record` the notification
    record written with the effect (None: a payment no channel notified has neither). Returns (result,
    replayed), or what was written when a concurrent notification recorded the same transaction or
    request id first (read again, or roll back if anything was written: `Written`)."""

    def answered(result: PaymentResult) -> RequestRecord | None:
        return answer(result) if answer else None

    def recorded_as(outcome: str, payment_id: str) -> NotificationRecord | None:
        return record(outcome, payment_id) if record else None

    if view.recorded is not None:
        recorded, result = view.recorded
        check_replay(recorded, payment)
        written = await uow.intake.write_replay(answered(result), recorded_as(REPLAYED, result.payment_id), now)
        return (result, True) if written.complete else written
    if view.order is None:
        raise order_not_found(payment)
    assert view.receipt_sequence is not None  # taken whenever the order was locked undecided
    states = [ItemState(i.payable_item_id, i.status, i.payable_until, i.channel_opens) for i in view.items]
    decision = decide(view.order, states, payment)
    payment_id = str(uuid.uuid4())
    order = view.order
    family_holder = None
    if payment.channel is Channel.FAMILY_MUTUAL_AID:
        # Nothing is taken from the account for anyone not bound to it (R46), nor for items that cannot
        # be paid, nor beyond its balance: each is refused before the debit is written.
        holder = _family_holder(payment, now)
        await check_account_pays_for(uow, holder, [i.resident_id_number for i in view.items])
        if decision.outcome is Outcome.REFUND:
            raise refused_family_payment(decision)
        family_holder = await _family_account_covering(uow, holder, payment)
    if decision.outcome is Outcome.REFUND:
        assert decision.refund_reason is not None
        refund_id = str(uuid.uuid4())
        result = PaymentResult(PaymentOutcome.REFUND_RAISED, payment_id, order.order_id, refund_id=refund_id)
        written = await uow.intake.write_refund(
            payment_id,
            payment,
            order.payer_id_number,
            answered(result),
            recorded_as(result.outcome.value, payment_id),
            refund_id,
            decision.refund_reason,
            now,
        )
        if written.complete:
            log.warning(
                "payment_refund_raised",
                payment_id=payment_id,
                order_id=order.order_id,
                reason=decision.refund_reason,
                amount_fen=payment.amount_fen,
            )
        return (result, False) if written.complete else written
    receipt = receipt_number(payment.paid_at.astimezone(CST).date(), view.receipt_sequence)
    result = PaymentResult(PaymentOutcome.APPLIED, payment_id, order.order_id, receipt_number=receipt)
    written = await uow.intake.write_applied(
        payment_id,
        payment,
        order.payer_id_number,
        answered(result),
        recorded_as(result.outcome.value, payment_id),
        [i.payable_item_id for i in view.items],
        receipt,
        uow.outbox.row(
            event_types.PAYMENT_CONFIRMED,
            _payment_confirmed(payment, order.order_id, payment_id, receipt, view.items),
            occurred_at=now,
        ),
        now,
        family_holder,
    )
    if written.complete:
        log.info("payment_applied", payment_id=payment_id, order_id=order.order_id, amount_fen=payment.amount_fen)
    return (result, False) if written.complete else written


async def settle_payment(
    uow: CollectionUnitOfWork, payment: ChannelPayment, clock: Clock, skew: dt.timedelta
) -> PaymentResult:
    """A payment no channel notified (a bank deduction's result, R27), decided and written as a
    notification's would be, without a request-id or notification record."""
    now = clock.now()
    check_payment_time(payment.paid_at, now, skew)
    view = await uow.intake.read(payment, None)
    applied = await apply_payment(uow, payment, view, None, None, now)
    if isinstance(applied, Written):
        raise payment_race()
    return applied[0]


def payment_race() -> Conflict:
    """A concurrent notification of the same channel transaction kept getting in the way; nothing of
    this one was written, so the caller may simply send it again."""
    return Conflict(
        "TRANSIENT_CONFLICT",
        "a concurrent notification of the same transaction got in the way; retry with the same request_id",
        "系统繁忙,请使用相同的请求编号重试",
    )


def order_not_found(payment: ChannelPayment) -> NotFound:
    return NotFound(
        "ORDER_NOT_FOUND",
        f"the notification names order {payment.order_id}, which does not exist",
        "缴费通知中的订单不存在",
        metadata={"order_id": payment.order_id},
    )


def _payment_confirmed(
    payment: ChannelPayment, order_id: str, payment_id: str, receipt: str, items: Sequence[PayableItem]
) -> events_pb2.PaymentConfirmed:
    return events.payment_confirmed(
        payment_id=payment_id,
        order_id=order_id,
        channel=payment.channel,
        paid_at=payment.paid_at,
        amount_fen=payment.amount_fen,
        receipt_number=receipt,
        items=[
            events.paid_item(
                item_id=i.payable_item_id,
                enrollment_id=i.enrollment_id,
                resident_id_number=i.resident_id_number,
                insurance_year=i.insurance_year,
                fee_type=i.fee_type,
                amount_fen=i.amount_fen,
                coverage=(i.coverage.start, i.coverage.end),
            )
            for i in items
        ],
    )


def _family_holder(payment: ChannelPayment, now: dt.datetime) -> str:
    """The holder of the family account the payment is taken from (R20a)."""
    return parse_resident_id(
        payment.family_holder_id_number or "", today=now.date(), field="payload.holder_id_number"
    ).number


async def _family_account_covering(uow: CollectionUnitOfWork, holder: str, payment: ChannelPayment) -> str:
    """The holder's family account, locked; refused when its balance does not cover the payment."""
    account = await uow.payments.lock_family_account(holder)
    balance = account.balance_fen if account else 0
    if balance < payment.amount_fen:
        raise FailedPrecondition(
            "FAMILY_BALANCE_SHORT",
            f"the family mutual-aid account holds {balance} fen, the order needs {payment.amount_fen}",
            "家庭共济账户余额不足,请选择其他缴费方式",
            metadata={"balance_fen": balance, "needed_fen": payment.amount_fen},
        )
    return holder
