"""Ending an enrollment: 停保 on request (R11) and 超龄停保 by the age-out worker (R12). Both cancel the
unpaid years here and, by event, on the tax side; paid years stay covered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import structlog
from google.protobuf.message import Message

from services.common.clock import Clock
from services.common.db import Pool
from services.common.messaging import envelope as event_types
from services.common.messaging.envelope import EventType
from services.common.resident_id import mask
from services.registration import events
from services.registration.domain.lifecycle import (
    AGE_OUT_CATEGORIES,
    Ended,
    adult_birth_cutoff,
    aged_out,
    is_aged_out,
    stopped,
)
from services.registration.domain.model import Enrollment, EnrollmentState, StopReason, YearStatus
from services.registration.handlers.lookups import load_enrollment
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StopEnrollment:
    enrollment_id: str
    reason: StopReason
    note: str


async def stop_enrollment(cmd: StopEnrollment, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """停保 on request (R11)."""
    now = clock.now()
    enrollment = await load_enrollment(uow, cmd.enrollment_id, for_update=True)
    ended = stopped(enrollment, cmd.reason, cmd.note, now)
    await _persist_end(uow, ended, event_types.ENROLLMENT_STOPPED, events.stopped(ended.enrollment, now), now)
    await uow.projection.refresh([enrollment.resident_id_number], now)
    log.info("enrollment_stopped", enrollment_id=enrollment.enrollment_id, reason=cmd.reason)
    return await load_enrollment(uow, enrollment.enrollment_id)


async def age_out_due(pool: Pool, clock: Clock, batch_size: int) -> int:
    """Stops one batch of minors who have turned 18 (R12); returns how many. Each batch commits with its
    events, so a worker killed mid-run resumes with whoever is still active."""
    now = clock.now()
    today = now.date()
    async with RegistrationUnitOfWork(pool) as uow:
        candidates = await uow.selection.lock_born_by(
            EnrollmentState.ACTIVE, AGE_OUT_CATEGORIES, adult_birth_cutoff(today), batch_size
        )
        due = [e for e in candidates if is_aged_out(e.category, e.state, e.birth_date, today)]
        for enrollment in due:
            ended = aged_out(enrollment, now)
            await _persist_end(uow, ended, event_types.ENROLLMENT_AGED_OUT, events.aged_out(ended.enrollment, now), now)
            log.info(
                "minor_aged_out", enrollment_id=enrollment.enrollment_id, resident=mask(enrollment.resident_id_number)
            )
        await uow.projection.refresh([e.resident_id_number for e in due], now)
        await uow.commit()
    return len(due)


async def _persist_end(
    uow: RegistrationUnitOfWork, ended: Ended, event_type: EventType, payload: Message, now: dt.datetime
) -> None:
    await uow.enrollments.save_state(ended.enrollment)
    await uow.enrollments.set_years_uncovered(
        ended.enrollment.enrollment_id, ended.cancelled_years, YearStatus.CANCELLED
    )
    await uow.outbox.add(event_type, payload, occurred_at=now)
