"""Manual review (R7, R7a): an officer approves a pending registration, which then goes through the
registration pipeline from the lock on, or rejects it with a reason."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.common.clock import Clock
from services.common.errors import DomainError, required
from services.registration.domain.lifecycle import check_can_review, rejected
from services.registration.domain.model import Enrollment
from services.registration.handlers.lookups import load_enrollment
from services.registration.handlers.registration import Candidate, admit
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReviewRegistration:
    enrollment_id: str
    officer_id: str
    note: str


async def approve_registration(cmd: ReviewRegistration, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """The enrollment turns active; the years of its registration date become payable (R7a)."""
    now = clock.now()
    officer = required(cmd.officer_id, "officer_id", "审核人")
    pending = await load_enrollment(uow, cmd.enrollment_id, for_update=True)
    check_can_review(pending)
    region = await uow.regions.get_region(pending.region_code)
    assert region is not None  # foreign key
    outcome = (
        await admit([Candidate(0, pending.resident_id_number, region, pending=pending, officer=officer)], uow, now)
    )[0]
    if isinstance(outcome, DomainError):
        raise outcome
    log.info("registration_approved", enrollment_id=pending.enrollment_id, officer=officer)
    return await load_enrollment(uow, pending.enrollment_id)


async def reject_registration(cmd: ReviewRegistration, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """Rejected with a reason; nothing was assessed, so nothing goes to the tax side."""
    now = clock.now()
    officer = required(cmd.officer_id, "officer_id", "审核人")
    pending = await load_enrollment(uow, cmd.enrollment_id, for_update=True)
    await uow.enrollments.save_state(rejected(pending, cmd.note, now), reviewed_by=officer)
    await uow.projection.refresh([pending.resident_id_number], now)
    log.info("registration_rejected", enrollment_id=pending.enrollment_id, officer=officer)
    return await load_enrollment(uow, pending.enrollment_id)
