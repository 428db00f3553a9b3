"""Taking in a channel's payment (R20-R23, R21b): exactly one effect per channel transaction, and a record
of every notification, whatever became of it.

One notification is one transaction: read what the decision needs (locking the order), decide (the
domain), write the decision's every effect with the notification's record, commit. Concurrent deliveries
of one notification serialise on the order's row lock; one that loses a race to a concurrent copy of
itself finds nothing of it written (`Raced`), and the whole transaction is tried again and then sees the
winner's record. A batch (NotifyPayments) takes the same steps for each notification in one transaction.
A notification costs four round trips: BEGIN, one read, one write, COMMIT (issue 12); a batch two per
notification and one BEGIN and COMMIT for all of them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import convert, events
from services.collection.channels.signature import NotificationVerifier
from services.collection.domain import intake
from services.collection.domain.intake import (
    AnswerAgain,
    ApplyPayment,
    IntakeOutcome,
    Notification,
    NotificationRecord,
    Raced,
    RaiseRefund,
    Refused,
    Replayed,
    RequestRecord,
)
from services.collection.domain.model import NotificationOutcome, PaymentResult
from services.collection.domain.notification_records import edge_outcome, raw_record, record_of, refusal_outcome
from services.collection.domain.payments import ChannelPayment, check_payment_time
from services.collection.metrics import PAYMENT_NOTIFICATIONS
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import Conflict, DomainError
from services.common.idempotency import checked_request_id, stored_response
from services.common.messaging import envelope as event_types
from services.common.money import Fen
from services.common.request_keys import RequestKey
from services.common.resident_id import parse_resident_id

log = structlog.get_logger(__name__)

METHOD = "NotifyPayment"

# How often a notification is taken in again after a concurrent copy of it committed first.
RACE_ATTEMPTS = 3

UowFactory = Callable[[], CollectionUnitOfWork]


@dataclass(frozen=True)
class Admitted:
    """A notification that passed the checks needing no database: its key and its verified payment."""

    key: RequestKey
    payment: ChannelPayment


@dataclass(frozen=True)
class Rejected:
    """A notification refused before the database was asked, and what its record says of it."""

    error: DomainError
    outcome: NotificationOutcome


def admit(notification: Notification, verifier: NotificationVerifier, now: dt.datetime, skew: dt.timedelta) -> Admitted:
    """The request id, the channel's own signature and format (R42), and the payment time (R21a), checked."""
    request_id = None if notification.request_id is None else checked_request_id(notification.request_id)
    channel = convert.channel(notification.channel)
    call = None if request_id is None else f"{notification.caller}/{request_id}"
    payment = verifier.verify(channel, notification.header_map, notification.payload, call=call)
    check_payment_time(payment.paid_at, now, skew)
    if request_id is None:  # a channel's own callback
        return Admitted(intake.callback_key(notification.caller, METHOD, payment), payment)
    return Admitted(RequestKey(notification.caller, METHOD, request_id, notification.fingerprint), payment)


async def take_in(
    notification: Notification,
    uow_factory: UowFactory,
    clock: Clock,
    verifier: NotificationVerifier,
    skew: dt.timedelta,
) -> IntakeOutcome:
    """One notification, at most once per request id and once per channel transaction. It is verified
    once: a try again after a race is not the channel sending it again (its nonce is not a replay)."""
    return await take_in_admitted(
        notification, admission_of(notification, verifier, clock.now(), skew), uow_factory, clock
    )


async def take_in_admitted(
    notification: Notification, admission: Admitted | Rejected, uow_factory: UowFactory, clock: Clock
) -> IntakeOutcome:
    """`take_in` of a notification already admitted (verified, or refused with its record to keep): a
    group of one, tried again like any group after a race or a deadlock (with a group holding a family
    account this one's order is waiting for)."""
    try:
        outcomes = await take_in_together([notification], [admission], uow_factory, clock)
    except CommitUnanswered as unanswered:
        raise unanswered.error from None
    return Raced() if outcomes is None else outcomes[0]


async def take_in_batch(
    notifications: Sequence[Notification],
    fields_refused: Sequence[DomainError | None],
    uow_factory: UowFactory,
    clock: Clock,
    verifier: NotificationVerifier,
    skew: dt.timedelta,
) -> list[IntakeOutcome]:
    """Each notification taken in as `take_in` would, all in one transaction; one refused (by the field
    rules the edge left to the batch, `fields_refused`, or by the intake) never fails the others."""
    admitted_at = clock.now()
    admissions = [
        Rejected(refused, edge_outcome(refused)) if refused else admission_of(n, verifier, admitted_at, skew)
        for n, refused in zip(notifications, fields_refused, strict=True)
    ]
    try:
        outcomes = await take_in_together(notifications, admissions, uow_factory, clock)
    except CommitUnanswered as unanswered:
        raise unanswered.error from None
    return [Raced()] * len(notifications) if outcomes is None else outcomes


async def take_in_together(
    notifications: Sequence[Notification],
    admissions: Sequence[Admitted | Rejected],
    uow_factory: UowFactory,
    clock: Clock,
) -> list[IntakeOutcome] | None:
    """Admitted notifications in one transaction, each as `take_in_admitted` would take it; None when a
    concurrent copy of one of them kept getting in the way (nothing of any of them written)."""
    for _ in range(RACE_ATTEMPTS):
        now = clock.now()
        taken: dict[int, tuple[IntakeOutcome, NotificationRecord]] = {}
        unanswered: Exception | None = None
        try:
            async with uow_factory() as uow:
                for index in _in_lock_order(admissions):
                    taken[index] = await _take_in(uow, notifications[index], admissions[index], now)
                    if isinstance(taken[index][0], Raced):
                        break
                else:
                    try:
                        await uow.commit()
                    except Exception as error:
                        if _commit_unanswered(error):
                            unanswered = error
                        raise
                    for _outcome, record in taken.values():
                        _count(record)
                    return [taken[i][0] for i in range(len(notifications))]
        except Exception as error:
            if unanswered is not None:  # (the rollback after it may have raised in its place)
                raise CommitUnanswered(unanswered) from unanswered
            if not isinstance(error, asyncpg.DeadlockDetectedError):
                raise
            # Items shared by orders of two batches; every batch locks orders in one order, so this is
            # rare. Nothing was written: try the batch again.
            log.warning("payment_batch_deadlock", notifications=len(notifications))
    return None


class CommitUnanswered(Exception):
    """COMMIT was sent and no answer came back (the connection dropped, a timeout): the transaction may
    have committed. Taking its notifications in again would record each delivery twice (R21b), so each
    caller is answered with `error`, as when it is taken in alone, and sends again (then a replay)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def _commit_unanswered(error: Exception) -> bool:
    """Whether a failed COMMIT may have committed: the server did not answer it with an error of its own
    (after which the transaction is rolled back)."""
    return not isinstance(error, asyncpg.PostgresError) or isinstance(error, asyncpg.PostgresConnectionError)


async def settle_payment(
    uow: CollectionUnitOfWork, payment: ChannelPayment, clock: Clock, skew: dt.timedelta
) -> PaymentResult:
    """A payment no channel notified (a bank deduction's result, R27), decided and written as a
    notification's would be, without a request-id or notification record."""
    now = clock.now()
    check_payment_time(payment.paid_at, now, skew)
    view = await uow.intake.read(payment, None)
    intent = intake.decide(
        view, payment, await _family_view(uow, view, payment, now), now=now, payment_id=_new_id(), refund_id=_new_id()
    )
    if not (await _write(uow, intent, None, None, now)).complete:
        raise payment_race()
    return intake.outcome_of(intent).result


async def record_edge_refusal(
    channel_label: str, payload: bytes, error: DomainError, uow_factory: UowFactory, clock: Clock
) -> None:
    """Stores a notification the edge refused before any handler (R21b, R34): a field out of its rules,
    bytes that do not parse (then the whole request body stands in for the payload)."""
    record = raw_record(channel_label, payload, edge_outcome(error), clock.now(), refusal=error)
    async with uow_factory() as uow:
        await uow.intake.record(record)
        await uow.commit()
    _count(record)


def payment_race() -> Conflict:
    """A concurrent notification of the same channel transaction kept getting in the way; nothing of
    this one was written, so the caller may simply send it again."""
    return Conflict(
        "TRANSIENT_CONFLICT",
        "a concurrent notification of the same transaction got in the way; retry with the same request_id",
        "系统繁忙,请使用相同的请求编号重试",
    )


async def _take_in(
    uow: CollectionUnitOfWork, notification: Notification, admission: Admitted | Rejected, now: dt.datetime
) -> tuple[IntakeOutcome, NotificationRecord]:
    """One notification in the unit of work's transaction: read, decide, write its effects and record."""
    if isinstance(admission, Rejected):
        record = record_of(notification, now, admission.outcome, refusal=admission.error)
        await uow.intake.record(record)
        return Refused(admission.error), record
    payment, key = admission.payment, admission.key
    try:
        view = await uow.intake.read(payment, key)
        if view.stored_request is not None:  # the same request id again: its stored answer
            stored = view.stored_request
            response = stored_response(key, stored.fingerprint, stored.response, pb.NotifyPaymentResponse)
            result = convert.payment_result_from_proto(response)
            record = record_of(
                notification,
                now,
                NotificationOutcome.DUPLICATE_REPLAYED,
                payment=payment,
                payment_id=result.payment_id or None,
            )
            await uow.intake.write_replay(None, record)  # nothing to race for: no request-id record to write
            return Replayed(result), record
        intent = intake.decide(
            view,
            payment,
            await _family_view(uow, view, payment, now),
            now=now,
            payment_id=_new_id(),
            refund_id=_new_id(),
        )
    except DomainError as refusal:
        record = record_of(notification, now, refusal_outcome(refusal), payment=payment, refusal=refusal)
        await uow.intake.record(record)
        return Refused(refusal), record
    outcome = intake.outcome_of(intent)
    recorded_as = NotificationOutcome.DUPLICATE_REPLAYED if isinstance(intent, AnswerAgain) else outcome.result.outcome
    record = record_of(
        notification, now, NotificationOutcome(recorded_as), payment=payment, payment_id=outcome.result.payment_id
    )
    answer = RequestRecord(key, convert.payment_result_to_proto(outcome.result).SerializeToString(deterministic=True))
    written = await _write(uow, intent, answer, record, now)
    return (outcome if written.complete else Raced()), record


async def _write(
    uow: CollectionUnitOfWork,
    intent: intake.Intent,
    answer: RequestRecord | None,
    record: NotificationRecord | None,
    now: dt.datetime,
) -> intake.Written:
    match intent:
        case ApplyPayment():
            event = uow.outbox.row(event_types.PAYMENT_CONFIRMED, events.payment_confirmed_of(intent), occurred_at=now)
            written = await uow.intake.write_applied(intent, answer, record, event, now)
            if written.complete:
                log.info(
                    "payment_applied",
                    payment_id=intent.result.payment_id,
                    order_id=intent.result.order_id,
                    amount_fen=intent.payment.amount_fen,
                )
        case RaiseRefund():
            written = await uow.intake.write_refund(intent, answer, record, now)
            if written.complete:
                log.warning(
                    "payment_refund_raised",
                    payment_id=intent.result.payment_id,
                    order_id=intent.result.order_id,
                    reason=intent.refund.reason,
                    amount_fen=intent.payment.amount_fen,
                )
        case AnswerAgain():
            if record is None:  # a payment no channel notified (a bank's result) seen before: nothing to keep
                return intake.Written(payment=True, request=True)
            written = await uow.intake.write_replay(answer, record)
    return written


async def _family_view(
    uow: CollectionUnitOfWork, view: intake.NotificationView, payment: ChannelPayment, now: dt.datetime
) -> intake.FamilyView | None:
    """The family account the payment would be taken from, its balance locked (R20a, R46)."""
    if not intake.needs_family_view(view, payment):
        return None
    holder = parse_resident_id(
        payment.family_holder_id_number or "", today=now.date(), field="payload.holder_id_number"
    ).number
    bound = await uow.family.bound_among(holder, [i.resident_id_number for i in view.items])
    account = await uow.payments.lock_family_account(holder)
    return intake.FamilyView(holder, frozenset(bound), account.balance_fen if account else Fen(0))


def _new_id() -> str:
    return str(uuid.uuid4())


def admission_of(
    notification: Notification, verifier: NotificationVerifier, now: dt.datetime, skew: dt.timedelta
) -> Admitted | Rejected:
    """`admit`, or the refusal to record."""
    try:
        return admit(notification, verifier, now, skew)
    except DomainError as refusal:
        return Rejected(refusal, refusal_outcome(refusal))


def _in_lock_order(admissions: Sequence[Admitted | Rejected]) -> list[int]:
    """The batch's positions in the order of the orders they lock: two batches locking the same orders
    take them in the same order and cannot deadlock on them. The order is the one the read locks, however
    the channel spelled its id (any form uuid.UUID reads: upper case, no hyphens, urn:uuid:)."""

    def order_of(index: int) -> tuple[int, str]:
        admission = admissions[index]
        if not isinstance(admission, Admitted):
            return (0, "")
        try:
            return (1, str(uuid.UUID(admission.payment.order_id)))
        except ValueError:  # no order's id: the read locks nothing
            return (0, "")

    return sorted(range(len(admissions)), key=order_of)


def _count(record: NotificationRecord) -> None:
    """Every notification has exactly one record, counted once it is committed. A number that names no
    channel is one label, not one per number a caller can send."""
    label = "UNDEFINED" if record.channel.startswith("UNDEFINED_") else record.channel
    PAYMENT_NOTIFICATIONS.labels(label, record.outcome).inc()
