"""Receiving a channel notification: everything a channel sends is recorded with its outcome, even
when it is refused (R20-R22, R21b, R30): its hash and size, a short masked sample and the reason. The
effect runs in a savepoint; a refusal undoes the effect but not the record, which commits on its own.
Notifications the edge refuses before any handler (R34: a field out of its rules, bytes that do not
parse) are recorded through `record_edge_refusal`."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection import convert
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.model import PaymentResult
from services.collection.domain.payments import ChannelPayment
from services.collection.handlers.payments import apply_payment, verified_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError
from services.common.idempotency import idempotent
from services.common.logs import mask_text

# What a refusal is recorded as, by its reason.
REFUSAL_OUTCOMES = {
    "CHANNEL_TRANSACTION_CONFLICT": "CONFLICT",
    "AMOUNT_MISMATCH": "AMOUNT_MISMATCH",
    "ORDER_NOT_FOUND": "UNKNOWN_ORDER",
    "SIGNATURE_INVALID": "SIGNATURE_INVALID",
    "MALFORMED_NOTIFICATION": "MALFORMED",
    "MALFORMED_REQUEST": "MALFORMED",
    "INVALID_AMOUNT": "MALFORMED",
    "PAYMENT_TIME_IN_FUTURE": "PAYMENT_TIME_IN_FUTURE",
    "FAMILY_BALANCE_SHORT": "FAMILY_BALANCE_SHORT",
}


# How much of a payload is kept as a sample, and of a refusal's message as the detail.
SAMPLE_CHARS = 256
DETAIL_CHARS = 500


async def notify(
    request: pb.NotifyPaymentRequest,
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
        channel = convert.channel(request.channel)
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
        await _record(
            uow,
            request.channel,
            request.payload,
            _outcome(result, replayed, refusal),
            received_at,
            payment=parsed,
            payment_id=result.payment_id if result else (response.payment_id if response else None),
            refusal=refusal,
        )
        await uow.commit()
    if refusal is not None:
        raise refusal
    assert response is not None
    return response


async def record_edge_refusal(
    request: pb.NotifyPaymentRequest | None,
    raw: bytes,
    error: DomainError,
    uow_factory: Callable[[], CollectionUnitOfWork],
    clock: Clock,
) -> None:
    """Stores a notification the edge refused (R21b). Without a parsed request (bytes that are not a
    NotifyPaymentRequest) the whole request body stands in for the payload."""
    outcome = "SIGNATURE_INVALID" if error.field == "signature" else "MALFORMED"
    async with uow_factory() as uow:
        await _record(
            uow,
            request.channel if request is not None else 0,
            request.payload if request is not None else raw,
            outcome,
            clock.now(),
            refusal=error,
        )
        await uow.commit()


async def _record(
    uow: CollectionUnitOfWork,
    channel: int,
    payload: bytes,
    outcome: str,
    received_at: dt.datetime,
    *,
    payment: ChannelPayment | None = None,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> None:
    await uow.payments.record_notification(
        _channel_label(channel),
        hashlib.sha256(payload).digest(),
        len(payload),
        sample(payload),
        outcome,
        received_at,
        payment=payment,
        payment_id=payment_id,
        detail=printable(f"{refusal.reason}: {refusal.message}", DETAIL_CHARS) if refusal else None,
    )


def _channel_label(value: int) -> str:
    """The channel as stored: its name, or the number a caller sent that names no channel."""
    for name, number in common_pb2.PaymentChannel.items():
        if number == value:
            return name.removeprefix("PAYMENT_CHANNEL_")
    return f"UNDEFINED_{value}"


def sample(payload: bytes) -> str:
    """The start of a payload as readable, storable text: undecodable bytes and control characters
    escaped, personal numbers masked."""
    return mask_text(printable(payload[: SAMPLE_CHARS * 4].decode("utf-8", "replace"), SAMPLE_CHARS))


def printable(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, every non-printable character (NUL, unpaired surrogates) escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])


def _outcome(result: PaymentResult | None, replayed: bool, refusal: DomainError | None) -> str:
    if refusal is not None:
        return REFUSAL_OUTCOMES.get(refusal.reason, "REFUSED")
    if replayed:
        return "DUPLICATE_REPLAYED"
    assert result is not None
    return result.outcome.value
