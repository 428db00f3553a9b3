"""Renewal (续保, R10): when a region's window opens, every active enrollment there is carried into the
year on sale and becomes payable, without re-registering.

Works in batches, each committed with its events; the next batch picks whoever still lacks the year,
so a worker killed mid-run resumes where it stopped and nobody is carried twice (the year row's
primary key makes a concurrent double impossible too)."""

from __future__ import annotations

from dataclasses import replace

import structlog

from services.common.clock import Clock
from services.common.db import Pool
from services.common.messaging import envelope as event_types
from services.registration import events
from services.registration.domain.lifecycle import AGE_OUT_CATEGORIES, adult_birth_cutoff
from services.registration.domain.model import EnrollmentState
from services.registration.domain.policy import in_window
from services.registration.domain.registration import ordinary_year, waits_for_nothing
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def renew_due(pool: Pool, clock: Clock, batch_size: int) -> int:
    """Carries one batch of due enrollments into the years on sale today; returns how many."""
    now = clock.now()
    today = now.date()
    async with RegistrationUnitOfWork(pool) as uow:
        for region_code, policies in (await uow.regions.regions_with_windows_open(today)).items():
            for policy in in_window(policies, today):
                # Minors already 18 are left to the age-out (R12), not carried into a new year.
                due = await uow.selection.lock_due_for_year(
                    region_code,
                    policy.insurance_year,
                    EnrollmentState.ACTIVE,
                    (AGE_OUT_CATEGORIES, adult_birth_cutoff(today)),
                    batch_size,
                )
                if not due:
                    continue
                pairs = [
                    (
                        e.enrollment_id,
                        ordinary_year(
                            policy, e.category, exempt=waits_for_nothing(policy, e.category, e.wait_exemption)
                        ),
                    )
                    for e in due
                ]
                carried = await uow.enrollments.insert_years(pairs)
                sequences = await uow.enrollments.bump_sequences(sorted(carried), now)
                payloads = [
                    events.renewed(replace(e, sequence=sequences[e.enrollment_id]), [year])
                    for e, (_, year) in zip(due, pairs, strict=True)
                    if e.enrollment_id in carried
                ]
                await uow.outbox.add_many(event_types.ENROLLMENT_RENEWED, payloads, occurred_at=now)
                await uow.projection.refresh([e.resident_id_number for e in due], now)
                await uow.commit()
                log.info(
                    "enrollments_renewed",
                    region_code=region_code,
                    insurance_year=policy.insurance_year,
                    count=len(carried),
                )
                return len(due)
    return 0
