"""Receiving channel notifications: everything a channel sends is recorded with its outcome, even when
it is refused (R20-R22, R21b, R30): its hash and size, a short masked sample and the reason. The record
is written in the statement that writes the effect; a refusal writes the record alone. Notifications the
edge refuses before any handler (R34: a field out of its rules, bytes that do not parse) are recorded
through `record_edge_refusal`.

A notification costs four round trips: BEGIN, one read, one write, COMMIT (issue 12). A batch
(NotifyPayments) costs two per notification and one BEGIN and COMMIT for all of them."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection import convert
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.model import NotificationOutcome, PaymentResult
from services.collection.domain.payments import ChannelPayment, check_payment_time
from services.collection.handlers.payments import REPLAYED, apply_payment, payment_race, verified_payment
from services.collection.metrics import PAYMENT_NOTIFICATIONS
from services.collection.payment_intake_repository import NotificationRecord, RequestRecord, Written
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError
from services.common.grpc_errors import GRPC_CODES
from services.common.idempotency import RequestKey, request_key, stored_response
from services.common.logs import mask_text
from services.common.validation import validate

log = structlog.get_logger(__name__)

METHOD = "NotifyPayment"

# What a refusal is recorded as, by its reason.
REFUSAL_OUTCOMES = {
    "CHANNEL_TRANSACTION_CONFLICT": NotificationOutcome.CONFLICT,
    "AMOUNT_MISMATCH": NotificationOutcome.AMOUNT_MISMATCH,
    "ORDER_NOT_FOUND": NotificationOutcome.UNKNOWN_ORDER,
    "SIGNATURE_INVALID": NotificationOutcome.SIGNATURE_INVALID,
    "MALFORMED_NOTIFICATION": NotificationOutcome.MALFORMED,
    "MALFORMED_REQUEST": NotificationOutcome.MALFORMED,
    "INVALID_AMOUNT": NotificationOutcome.MALFORMED,
    "PAYMENT_TIME_IN_FUTURE": NotificationOutcome.PAYMENT_TIME_IN_FUTURE,
    "FAMILY_BALANCE_SHORT": NotificationOutcome.FAMILY_BALANCE_SHORT,
}


# How much of a payload is kept as a sample, and of a refusal's message as the detail.
SAMPLE_CHARS = 256
DETAIL_CHARS = 500

# How often a notification is read and decided again after a concurrent notification recorded the
# same channel transaction or request id first (each retry sees what that one committed).
RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class Admitted:
    """A notification that passed the checks needing no database: its key and its verified payment."""

    key: RequestKey
    payment: ChannelPayment


@dataclass(frozen=True)
class Refused:
    """A notification refused before the database was asked, and what its record says of it."""

    error: DomainError
    outcome: str


Answer = pb.NotifyPaymentResponse | DomainError


def admit(
    request: pb.NotifyPaymentRequest, verifier: SignatureVerifier, now: dt.datetime, skew: dt.timedelta
) -> Admitted:
    """The request id, the signature, the channel's format and the payment time (R21a), checked."""
    key = request_key(METHOD, request)
    payment = verified_payment(convert.channel(request.channel), request.payload, request.signature, verifier)
    check_payment_time(payment.paid_at, now, skew)
    return Admitted(key, payment)


async def notify(
    request: pb.NotifyPaymentRequest,
    uow_factory: Callable[[], CollectionUnitOfWork],
    clock: Clock,
    verifier: SignatureVerifier,
    skew: dt.timedelta,
) -> pb.NotifyPaymentResponse:
    """Processes a notification at most once per request id and once per channel transaction."""
    for _ in range(RACE_ATTEMPTS):
        received_at = clock.now()
        try:
            admitted: Admitted | Refused = admit(request, verifier, received_at, skew)
        except DomainError as refusal:
            admitted = Refused(refusal, _refusal_outcome(refusal))
        async with uow_factory() as uow:
            answer = await receive(uow, request, admitted, received_at)
            if answer is None:
                continue
            await uow.commit()
        if isinstance(answer, DomainError):
            raise answer
        return answer
    raise payment_race()


async def notify_many(
    request: pb.NotifyPaymentsRequest,
    uow_factory: Callable[[], CollectionUnitOfWork],
    clock: Clock,
    verifier: SignatureVerifier,
    skew: dt.timedelta,
) -> pb.NotifyPaymentsResponse:
    """Each notification processed as NotifyPayment would process it, all in one transaction; a refused
    one is answered with its refusal and never fails the others."""
    notifications = list(request.notifications)
    for _ in range(RACE_ATTEMPTS):
        received_at = clock.now()
        admitted = [_admit_alone(n, verifier, received_at, skew) for n in notifications]
        answers: dict[int, Answer] = {}
        try:
            async with uow_factory() as uow:
                for index in _in_lock_order(admitted):
                    answer = await receive(uow, notifications[index], admitted[index], received_at)
                    if answer is None:
                        break
                    answers[index] = answer
                else:
                    await uow.commit()
                    return pb.NotifyPaymentsResponse(
                        results=[_batch_result(n, answers[i]) for i, n in enumerate(notifications)]
                    )
        except asyncpg.DeadlockDetectedError:
            # Items shared by orders of two batches; every batch locks orders in one order, so this is
            # rare. Nothing was written: try the batch again.
            log.warning("payment_batch_deadlock", notifications=len(notifications))
    raise payment_race()


async def receive(
    uow: CollectionUnitOfWork,
    request: pb.NotifyPaymentRequest,
    admitted: Admitted | Refused,
    received_at: dt.datetime,
) -> Answer | None:
    """One notification in the unit of work's transaction: its effects and its record, or its refusal and
    its record. None when a concurrent notification recorded the same channel transaction or request id
    first: roll back and call again."""
    if isinstance(admitted, Refused):
        await uow.intake.record(_record(request, received_at, admitted.outcome, refusal=admitted.error))
        return admitted.error
    payment = admitted.payment

    def record(outcome: str, payment_id: str | None) -> NotificationRecord:
        return _record(request, received_at, outcome, payment=payment, payment_id=payment_id)

    def answer(result: PaymentResult) -> RequestRecord:
        response = convert.payment_result_to_proto(result)
        return RequestRecord(admitted.key, response.SerializeToString(deterministic=True))

    try:
        for _ in range(RACE_ATTEMPTS):
            view = await uow.intake.read(payment, admitted.key)
            if view.stored_request is not None:
                stored = view.stored_request
                response = stored_response(admitted.key, stored.fingerprint, stored.response, pb.NotifyPaymentResponse)
                replay = await uow.intake.write_replay(None, record(REPLAYED, response.payment_id or None), received_at)
                assert replay.complete  # nothing to race for without a request-id record to write
                return response
            applied = await apply_payment(uow, payment, view, answer, record, received_at)
            if not isinstance(applied, Written):
                return convert.payment_result_to_proto(applied[0])
            if not applied.untouched:
                return None
            # A concurrent notification committed the same transaction or request id after this
            # statement's snapshot and nothing was written: the next read sees it.
    except DomainError as refusal:
        await uow.intake.record(
            _record(request, received_at, _refusal_outcome(refusal), payment=payment, refusal=refusal)
        )
        return refusal
    return None


async def record_edge_refusal(
    request: pb.NotifyPaymentRequest | None,
    raw: bytes,
    error: DomainError,
    uow_factory: Callable[[], CollectionUnitOfWork],
    clock: Clock,
) -> None:
    """Stores a notification the edge refused (R21b). Without a parsed request (bytes that are not a
    NotifyPaymentRequest) the whole request body stands in for the payload."""
    outcome = _edge_outcome(error)
    async with uow_factory() as uow:
        await uow.intake.record(
            _notification_record(
                request.channel if request is not None else 0,
                request.payload if request is not None else raw,
                outcome,
                clock.now(),
                refusal=error,
            )
        )
        await uow.commit()


def _admit_alone(
    request: pb.NotifyPaymentRequest, verifier: SignatureVerifier, now: dt.datetime, skew: dt.timedelta
) -> Admitted | Refused:
    """`admit` for one notification of a batch, after the field rules the edge left to it."""
    try:
        validate(request)
    except DomainError as refusal:
        return Refused(refusal, _edge_outcome(refusal))
    try:
        return admit(request, verifier, now, skew)
    except DomainError as refusal:
        return Refused(refusal, _refusal_outcome(refusal))


def _edge_outcome(error: DomainError) -> str:
    """What a notification refused by the field rules (R34) is recorded as."""
    return NotificationOutcome.SIGNATURE_INVALID if error.field == "signature" else NotificationOutcome.MALFORMED


def _in_lock_order(admitted: Sequence[Admitted | Refused]) -> list[int]:
    """The batch's positions in the order of the orders they lock: two batches locking the same orders
    take them in the same order and cannot deadlock on them."""
    return sorted(
        range(len(admitted)),
        key=lambda i: (0, "") if isinstance(admitted[i], Refused) else (1, _order_of(admitted[i])),
    )


def _order_of(admitted: Admitted | Refused) -> str:
    return admitted.payment.order_id.lower() if isinstance(admitted, Admitted) else ""


def _batch_result(request: pb.NotifyPaymentRequest, answer: Answer) -> pb.NotifyPaymentsResult:
    if isinstance(answer, DomainError):
        return pb.NotifyPaymentsResult(
            request_id=request.request_id,
            refusal=pb.NotificationRefusal(
                code=GRPC_CODES[answer.kind].value[0],
                reason=answer.reason,
                message=answer.message,
                field=answer.field or "",
            ),
        )
    return pb.NotifyPaymentsResult(request_id=request.request_id, response=answer)


def _refusal_outcome(refusal: DomainError) -> str:
    return REFUSAL_OUTCOMES.get(refusal.reason, NotificationOutcome.REFUSED)


def _record(
    request: pb.NotifyPaymentRequest,
    received_at: dt.datetime,
    outcome: str,
    *,
    payment: ChannelPayment | None = None,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> NotificationRecord:
    return _notification_record(
        request.channel, request.payload, outcome, received_at, payment=payment, payment_id=payment_id, refusal=refusal
    )


def _notification_record(
    channel: int,
    payload: bytes,
    outcome: str,
    received_at: dt.datetime,
    *,
    payment: ChannelPayment | None = None,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> NotificationRecord:
    label = _channel_label(channel)
    # Counted as its record is made: every notification has exactly one, except one that loses a race to
    # a concurrent copy of itself, which is decided (and counted) again. A number that names no channel
    # is one label, not one per number a caller can send.
    PAYMENT_NOTIFICATIONS.labels("UNDEFINED" if label.startswith("UNDEFINED_") else label, outcome).inc()
    return NotificationRecord(
        channel=label,
        payload_sha256=hashlib.sha256(payload).digest(),
        payload_size=len(payload),
        payload_sample=sample(payload),
        outcome=outcome,
        received_at=received_at,
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
