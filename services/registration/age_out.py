"""Age-out (超龄停保, R12): a minor of the region who turns 18 is stopped automatically and must enroll
again under a new category; officers list them by region and the year they turned 18.

Batches commit with their events; a worker killed mid-run resumes with whoever is still active."""

from __future__ import annotations

import structlog

from services.common.clock import Clock
from services.common.db import Pool
from services.common.messaging import envelope as event_types
from services.common.resident_id import mask
from services.registration import events
from services.registration.domain.lifecycle import eighteenth_birthday, is_aged_out
from services.registration.domain.model import EnrollmentState, StopReason
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def age_out_due(pool: Pool, clock: Clock, batch_size: int) -> int:
    """Stops one batch of minors who have turned 18; returns how many."""
    now = clock.now()
    today = now.date()
    async with RegistrationUnitOfWork(pool) as uow:
        due = [
            e
            for e in await uow.repo.lock_aged_out(today, batch_size)
            if is_aged_out(e.category, e.state, e.birth_date, today)
        ]
        for enrollment in due:
            turned = eighteenth_birthday(enrollment.birth_date)
            await uow.repo.set_stopped(
                enrollment.enrollment_id, EnrollmentState.AGED_OUT, StopReason.AGED_OUT, None, now, turned.year
            )
            await uow.outbox.add(
                event_types.ENROLLMENT_AGED_OUT,
                events.aged_out(enrollment, enrollment.sequence + 1, now),
                occurred_at=now,
            )
            log.info(
                "minor_aged_out", enrollment_id=enrollment.enrollment_id, resident=mask(enrollment.resident_id_number)
            )
        await uow.repo.refresh_check_index(sorted({e.resident_id_number for e in due}), now)
        await uow.commit()
    return len(due)
