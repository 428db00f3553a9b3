"""Applying a channel's payment (R20-R23): exactly one effect per channel transaction.

Concurrent deliveries of one notification serialise on the order's row lock; the first records the
payment, the others find it and get its result back. The same transaction id with another order or
amount is a conflict and changes nothing. The payment, its receipt and its payment.confirmed event
commit together."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from services.collection import events
from services.collection.channels.formats import parse
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.model import Channel, PaymentOutcome, PaymentResult
from services.collection.domain.payments import (
    ChannelPayment,
    Outcome,
    check_payment_time,
    check_replay,
    decide,
    refused_family_payment,
)
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import CST, Clock
from services.common.errors import Conflict, FailedPrecondition, NotFound, Unauthenticated
from services.common.messaging import envelope as event_types
from services.common.resident_id import parse_resident_id

log = structlog.get_logger(__name__)


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
    payment: ChannelPayment, uow: CollectionUnitOfWork, clock: Clock, skew: dt.timedelta
) -> tuple[PaymentResult, bool]:
    """Records the payment and applies it or raises its refund; returns (result, replayed)."""
    now = clock.now()
    check_payment_time(payment.paid_at, now, skew)
    order = await uow.orders.lock(payment.order_id)
    if order is None:
        raise NotFound(
            "ORDER_NOT_FOUND",
            f"the notification names order {payment.order_id}, which does not exist",
            "缴费通知中的订单不存在",
            metadata={"order_id": payment.order_id},
        )
    recorded = await uow.payments.by_transaction(payment.channel, payment.transaction_id)
    if recorded is not None:
        check_replay(recorded[0], payment)
        return recorded[1], True
    pairs = await uow.orders.lock_order_items(order.order_id)
    decision = decide(order, [state for state, _ in pairs], payment)
    payment_id = str(uuid.uuid4())
    if payment.channel is Channel.FAMILY_MUTUAL_AID:
        if decision.outcome is Outcome.REFUND:
            raise refused_family_payment(decision)
        await _debit_family_account(uow, payment, payment_id, now)
    outcome = PaymentOutcome.APPLIED if decision.outcome is Outcome.APPLY else PaymentOutcome.REFUND_RAISED
    if not await uow.payments.insert(payment_id, payment, order.payer_id_number, outcome, now):
        recorded = await uow.payments.by_transaction(payment.channel, payment.transaction_id)
        assert recorded is not None  # the unique key said it exists
        check_replay(recorded[0], payment)
        raise Conflict("CHANNEL_TRANSACTION_RACE", "recorded concurrently; retry", "请稍后重试")
    if decision.outcome is Outcome.REFUND:
        refund_id = str(uuid.uuid4())
        assert decision.refund_reason is not None
        await uow.payments.raise_refund(
            refund_id, payment_id, payment.channel, payment.amount_fen, decision.refund_reason, now
        )
        log.warning(
            "payment_refund_raised",
            payment_id=payment_id,
            order_id=order.order_id,
            reason=decision.refund_reason,
            amount_fen=payment.amount_fen,
        )
        return PaymentResult(PaymentOutcome.REFUND_RAISED, payment_id, order.order_id, refund_id=refund_id), False
    items = [item for _, item in pairs]
    await uow.payments.apply_to_items(payment_id, [i.payable_item_id for i in items], now)
    await uow.orders.mark_paid(order.order_id, payment_id, payment.paid_at, now, [i.payable_item_id for i in items])
    receipt = await uow.payments.issue_receipt(payment_id, payment.paid_at.astimezone(CST).date(), now)
    await uow.outbox.add(
        event_types.PAYMENT_CONFIRMED,
        events.payment_confirmed(
            payment_id=payment_id,
            order_id=order.order_id,
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
        ),
        occurred_at=now,
    )
    log.info("payment_applied", payment_id=payment_id, order_id=order.order_id, amount_fen=payment.amount_fen)
    return PaymentResult(PaymentOutcome.APPLIED, payment_id, order.order_id, receipt_number=receipt), False


async def _debit_family_account(
    uow: CollectionUnitOfWork, payment: ChannelPayment, payment_id: str, now: dt.datetime
) -> None:
    holder = parse_resident_id(
        payment.family_holder_id_number or "", today=now.date(), field="payload.holder_id_number"
    )
    if not await uow.payments.debit_family_account(holder.number, payment.amount_fen, payment_id, now):
        account = await uow.payments.family_account(holder.number)
        raise FailedPrecondition(
            "FAMILY_BALANCE_SHORT",
            f"the family mutual-aid account holds {account.balance_fen if account else 0} fen, "
            f"the order needs {payment.amount_fen}",
            "家庭共济账户余额不足,请选择其他缴费方式",
            metadata={"balance_fen": account.balance_fen if account else 0, "needed_fen": payment.amount_fen},
        )
