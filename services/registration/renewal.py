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
from services.registration.domain.policy import on_sale
from services.registration.domain.registration import ordinary_year
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def renew_due(pool: Pool, clock: Clock, batch_size: int) -> int:
    """Carries one batch of due enrollments into the years on sale today; returns how many."""
    now = clock.now()
    async with RegistrationUnitOfWork(pool) as uow:
        for region_code, policies in (await uow.repo.regions_with_windows_open(now.date())).items():
            for policy in on_sale(policies, now.date()):
                due = await uow.repo.lock_due_for_year(region_code, policy.insurance_year, now.date(), batch_size)
                if not due:
                    continue
                pairs = [(e.enrollment_id, ordinary_year(policy, e.category)) for e in due]
                carried = await uow.repo.insert_years_returning(pairs)
                sequences = await uow.repo.bump_sequences(sorted(carried), now)
                payloads = [
                    events.renewed(replace(e, sequence=sequences[e.enrollment_id]), [year])
                    for e, (_, year) in zip(due, pairs, strict=True)
                    if e.enrollment_id in carried
                ]
                await uow.outbox.add_many(event_types.ENROLLMENT_RENEWED, payloads, occurred_at=now)
                await uow.repo.refresh_check_index(sorted({e.resident_id_number for e in due}), now)
                await uow.commit()
                log.info(
                    "enrollments_renewed",
                    region_code=region_code,
                    insurance_year=policy.insurance_year,
                    count=len(carried),
                )
                return len(due)
    return 0
