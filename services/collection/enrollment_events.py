"""The tax side's reactions to insurance events (R17, R11, R12): assess items, cancel unpaid ones, and
return a payment insurance could not grant (R14a).

Events are not ordered (retries, concurrent consumers). Each carries the enrollment's sequence; a
stop wins over any registration or renewal of the same enrollment, whichever arrives first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import structlog
from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.collection import events
from services.collection.domain.assessment import AssessmentBasis, InvalidAssessment, assess, conflict_is_early
from services.collection.domain.model import Channel, EnrollmentState, FeeType, InsuredPerson, ItemStatus
from services.collection.handlers.refunds import refund_refused_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError
from services.common.messaging import envelope as event_types
from services.common.messaging.envelope import EventNotReady, UnprocessableEvent
from services.common.messaging.event_batches import Handler
from services.common.money import Fen
from services.common.periods import DateRange
from services.common.proto_values import channel_openings_from_proto, date_from_proto, enum_from_proto
from services.common.resident_id import mask

log = structlog.get_logger(__name__)


def enrollment_event_handlers(clock: Clock) -> Mapping[str, Handler[CollectionUnitOfWork]]:
    async def registered(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        e = envelope.enrollment_registered
        await _assess(
            uow, clock, e.enrollment_id, e.enrollment_sequence, e.person, e.region_code, e.category, e.assessments
        )

    async def renewed(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        e = envelope.enrollment_renewed
        await _assess(
            uow, clock, e.enrollment_id, e.enrollment_sequence, e.person, e.region_code, e.category, e.assessments
        )

    async def repair_offered(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        e = envelope.enrollment_repair_offered
        await _assess(
            uow, clock, e.enrollment_id, e.enrollment_sequence, e.person, e.region_code, e.category, e.assessments
        )

    async def stopped(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        e = envelope.enrollment_stopped
        await _stop(uow, clock, e.enrollment_id, e.enrollment_sequence, e.resident_id_number, e.region_code)

    async def aged_out(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        e = envelope.enrollment_aged_out
        await _stop(uow, clock, e.enrollment_id, e.enrollment_sequence, e.resident_id_number, e.region_code)

    async def coverage_refused(envelope: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        await _refuse_coverage(envelope.coverage_refused, uow, clock)

    return {
        event_types.COVERAGE_REFUSED.name: coverage_refused,
        event_types.ENROLLMENT_REGISTERED.name: registered,
        event_types.ENROLLMENT_RENEWED.name: renewed,
        event_types.ENROLLMENT_REPAIR_OFFERED.name: repair_offered,
        event_types.ENROLLMENT_STOPPED.name: stopped,
        event_types.ENROLLMENT_AGED_OUT.name: aged_out,
    }


async def _assess(
    uow: CollectionUnitOfWork,
    clock: Clock,
    enrollment_id: str,
    sequence: int,
    person_pb: events_pb2.InsuredPerson,
    region_code: str,
    category_value: common_pb2.Category.ValueType,
    assessments_pb: Iterable[events_pb2.AssessmentBasis],
) -> None:
    now = clock.now()
    try:
        person = InsuredPerson(
            person_pb.resident_id_number,
            person_pb.name,
            date_from_proto(person_pb.birth_date, field="person.birth_date"),
        )
        category = common_pb2.Category.Name(category_value).removeprefix("CATEGORY_")
        assessments = [assess(_basis(a)) for a in assessments_pb]
        uuid.UUID(enrollment_id)
    except (DomainError, InvalidAssessment, ValueError) as exc:
        raise UnprocessableEvent(f"cannot assess enrollment {enrollment_id}: {exc}") from exc
    ref = await uow.items.lock_enrollment_ref(enrollment_id)
    if ref is not None and ref["state"] == EnrollmentState.STOPPED:
        log.info("assessment_ignored_enrollment_stopped", enrollment_id=enrollment_id, sequence=sequence)
        return
    others = await uow.items.live_items_of_others(
        enrollment_id, person.resident_id_number, [(a.basis.insurance_year, a.basis.fee_type) for a in assessments]
    )
    early = {key: held for key, held in others.items() if conflict_is_early(held[1])}
    if early:
        # R17a: the stop of the other enrollment has not arrived yet; retried with back-off, never skipped.
        raise EventNotReady(
            f"enrollment {enrollment_id}: the person still owes {sorted(k[0] for k in early)} "
            f"through enrollment {next(iter(early.values()))[0]}, whose stop has not arrived"
        )
    await uow.items.upsert_person(person, now)
    await uow.items.save_enrollment_ref(
        enrollment_id, person.resident_id_number, region_code, category, EnrollmentState.ACTIVE, sequence, now
    )
    rows = [
        (str(uuid.uuid4()), a, str(uuid.uuid4()) if a.status is ItemStatus.SETTLED_BY_SUBSIDY else None)
        for a in assessments
    ]
    inserted = await uow.items.insert_items(enrollment_id, person, region_code, category, rows, now)
    for item_id, assessment, subsidy_payment_id in rows:
        if item_id in inserted and subsidy_payment_id is not None:
            await uow.items.insert_subsidy_payment(subsidy_payment_id, item_id, now, now)
            await uow.outbox.add(
                event_types.PAYMENT_CONFIRMED,
                events.payment_confirmed(
                    payment_id=subsidy_payment_id,
                    order_id="",
                    channel=Channel.SUBSIDY,
                    paid_at=now,
                    amount_fen=0,
                    receipt_number="",
                    items=[
                        events.paid_item(
                            item_id=item_id,
                            enrollment_id=enrollment_id,
                            resident_id_number=person.resident_id_number,
                            insurance_year=assessment.basis.insurance_year,
                            fee_type=assessment.basis.fee_type,
                            amount_fen=0,
                            coverage=(assessment.basis.coverage.start, assessment.basis.coverage.end),
                        )
                    ],
                ),
                occurred_at=now,
            )
    log.info(
        "items_assessed",
        enrollment_id=enrollment_id,
        resident=mask(person.resident_id_number),
        assessed=len(inserted),
        skipped=len(rows) - len(inserted),
    )


async def _refuse_coverage(event: events_pb2.CoverageRefused, uow: CollectionUnitOfWork, clock: Clock) -> None:
    try:
        uuid.UUID(event.payment_id)
        item_ids = [str(uuid.UUID(i.payable_item_id)) for i in event.items]
    except ValueError as exc:
        raise UnprocessableEvent(f"coverage.refused names payment {event.payment_id!r}: {exc}") from exc
    reason = events_pb2.CoverageRefusalReason.Name(event.reason).removeprefix("COVERAGE_REFUSAL_REASON_")
    await refund_refused_payment(event.payment_id, item_ids, reason, uow, clock)


def _basis(a: events_pb2.AssessmentBasis) -> AssessmentBasis:
    fee_type = enum_from_proto(FeeType, common_pb2.FeeType, a.fee_type, prefix="FEE_TYPE_", field="fee_type")
    assert fee_type is not None
    window_end = date_from_proto(a.collection_window.end, field="collection_window.end")
    return AssessmentBasis(
        insurance_year=a.insurance_year,
        fee_type=fee_type,
        standard_fen=Fen(a.standard_fen),
        subsidy_fen=Fen(a.subsidy_fen),
        policy_version=a.policy_version,
        collection_window=DateRange(
            date_from_proto(a.collection_window.start, field="collection_window.start"), window_end
        ),
        coverage=DateRange(
            date_from_proto(a.coverage_period.start, field="coverage_period.start"),
            date_from_proto(a.coverage_period.end, field="coverage_period.end"),
        ),
        newborn_current_year=a.newborn_current_year,
        payable_until=_payable_until(a, window_end),
        channel_opens=channel_openings_from_proto(a.channel_openings, field="channel_openings"),
    )


def _payable_until(a: events_pb2.AssessmentBasis, window_end: dt.date) -> dt.date:
    """The last day the year may be paid (R7a, R13a); events from before payable_until carried the
    extended deadline as newborn_deadline only."""
    if a.HasField("payable_until"):
        return date_from_proto(a.payable_until, field="payable_until")
    if a.HasField("newborn_deadline"):
        return date_from_proto(a.newborn_deadline, field="newborn_deadline")
    return window_end


async def _stop(
    uow: CollectionUnitOfWork, clock: Clock, enrollment_id: str, sequence: int, number: str, region_code: str
) -> None:
    now = clock.now()
    try:
        uuid.UUID(enrollment_id)
    except ValueError as exc:
        raise UnprocessableEvent(f"enrollment_id {enrollment_id!r} is not a UUID") from exc
    ref = await uow.items.lock_enrollment_ref(enrollment_id)
    if ref is not None and ref["last_sequence"] > sequence:
        log.info("stop_ignored_stale", enrollment_id=enrollment_id, sequence=sequence)
        return
    await uow.items.save_enrollment_ref(enrollment_id, number, region_code, "", EnrollmentState.STOPPED, sequence, now)
    cancelled = await uow.items.cancel_unpaid_items(enrollment_id, now)
    log.info("items_cancelled", enrollment_id=enrollment_id, resident=mask(number), cancelled=len(cancelled))
