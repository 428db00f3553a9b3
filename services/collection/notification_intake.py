"""Receiving a channel notification: everything a channel sends is recorded with its outcome, even
when it is refused (R20-R22, R30). The effect runs in a savepoint; a refusal undoes the effect but
not the record, which commits on its own."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import convert
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.model import Channel, PaymentResult
from services.collection.domain.payments import ChannelPayment
from services.collection.handlers.payments import apply_payment, verified_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError
from services.common.idempotency import idempotent

# What a refusal is recorded as, by its reason.
REFUSAL_OUTCOMES = {
    "CHANNEL_TRANSACTION_CONFLICT": "CONFLICT",
    "AMOUNT_MISMATCH": "AMOUNT_MISMATCH",
    "ORDER_NOT_FOUND": "UNKNOWN_ORDER",
    "SIGNATURE_INVALID": "SIGNATURE_INVALID",
    "MALFORMED_NOTIFICATION": "MALFORMED",
    "INVALID_AMOUNT": "MALFORMED",
    "PAYMENT_TIME_IN_FUTURE": "PAYMENT_TIME_IN_FUTURE",
    "FAMILY_BALANCE_SHORT": "FAMILY_BALANCE_SHORT",
}


async def notify(
    request: pb.NotifyPaymentRequest,
    channel: Channel,
    uow_factory: Callable[[], CollectionUnitOfWork],
    clock: Clock,
    verifier: SignatureVerifier,
    skew: dt.timedelta,
) -> pb.NotifyPaymentResponse:
    """Processes a notification at most once per request id and once per channel transaction."""
    parsed: ChannelPayment | None = None
    result: PaymentResult | None = None
    replayed = True
    refusal: DomainError | None = None

    async def action(uow: CollectionUnitOfWork) -> pb.NotifyPaymentResponse:
        nonlocal parsed, result, replayed
        parsed = verified_payment(channel, request.payload, request.signature, verifier)
        result, replayed = await apply_payment(parsed, uow, clock, skew)
        return convert.payment_result_to_proto(result)

    async with uow_factory() as uow:
        received_at = clock.now()
        response = None
        try:
            async with uow.conn.transaction():
                response = await idempotent(
                    uow.conn, "NotifyPayment", request, pb.NotifyPaymentResponse, lambda: action(uow)
                )
        except DomainError as error:
            refusal = error
        await uow.payments.record_notification(
            channel,
            hashlib.sha256(request.payload).digest(),
            _outcome(result, replayed, refusal),
            received_at,
            payment=parsed,
            payment_id=result.payment_id if result else (response.payment_id if response else None),
            detail=f"{refusal.reason}: {refusal.message}" if refusal else None,
        )
        await uow.commit()
    if refusal is not None:
        raise refusal
    assert response is not None
    return response


def _outcome(result: PaymentResult | None, replayed: bool, refusal: DomainError | None) -> str:
    if refusal is not None:
        return REFUSAL_OUTCOMES.get(refusal.reason, "REFUSED")
    if replayed:
        return "DUPLICATE_REPLAYED"
    assert result is not None
    return result.outcome.value
