"""新参保登记: the one registration pipeline (R5-R8, R13), used by single registration, every batch row
and approval alike, so no entry point can skip a step:

    validate → place → lock the persons → duplicate check → years → persist → events → projection

Set-based: a chunk of 2,000 batch rows costs the same handful of statements as one registration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from services.common.clock import Clock
from services.common.errors import DomainError, FailedPrecondition
from services.common.messaging import envelope as event_types
from services.common.resident_id import mask, parse_resident_id
from services.registration import events
from services.registration.domain.duplicates import HeldEnrollment, check_not_enrolled
from services.registration.domain.lifecycle import approved
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    Region,
    School,
    WaitExemption,
    YearStatus,
)
from services.registration.domain.regions import place_of
from services.registration.domain.registration import (
    Applicant,
    YearAssessment,
    check_applicant,
    new_enrollment,
    not_yet_covered,
)
from services.registration.handlers.lookups import load_enrollment
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)

Outcome = Enrollment | DomainError


@dataclass(frozen=True)
class Application:
    """A registration as submitted: one call, or one row of a batch (`key` is the row number). A batch
    row's unreadable category or evidence arrives as that row's error."""

    key: int
    resident_id_number: str
    name: str
    phone: str
    region_code: str | None
    school_code: str | None
    category: Category | DomainError
    evidence: tuple[Evidence, ...] | DomainError
    wait_exemption: WaitExemption | None = None


@dataclass(frozen=True)
class Candidate:
    """A person about to hold an open enrollment: a checked new applicant, or a pending registration
    an officer approves."""

    key: int
    number: str
    region: Region
    applicant: Applicant | None = None
    pending: Enrollment | None = None
    officer: str | None = None


async def register_resident(application: Application, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """One registration: the pipeline with one application; a refusal is raised to the caller."""
    outcome = (await register([application], uow, clock.now()))[application.key]
    if isinstance(outcome, DomainError):
        raise outcome
    return await load_enrollment(uow, outcome.enrollment_id)


async def register(
    applications: Sequence[Application], uow: RegistrationUnitOfWork, now: dt.datetime
) -> dict[int, Outcome]:
    """Registers each application; returns the enrollment or the refusal per key."""
    today = now.date()
    schools = await uow.regions.schools_of(sorted({a.school_code for a in applications if a.school_code}))
    regions = await uow.regions.regions_of(
        sorted({a.region_code for a in applications if a.region_code} | {s.region_code for s in schools.values()})
    )
    outcomes: dict[int, Outcome] = {}
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for application in applications:
        try:
            candidate = _validated(application, regions, schools, today)
            if candidate.number in seen:
                raise FailedPrecondition(
                    "DUPLICATE_IN_BATCH",
                    "this person appears in an earlier row of the same submission",
                    "同一批次中此人已出现,不能重复参保",
                    field="resident_id_number",
                )
        except DomainError as error:
            outcomes[application.key] = error
            continue
        seen.add(candidate.number)
        candidates.append(candidate)
    outcomes.update(await admit(candidates, uow, now))
    return outcomes


def _validated(
    application: Application, regions: dict[str, Region], schools: dict[str, School], today: dt.date
) -> Candidate:
    if isinstance(application.category, DomainError):
        raise application.category
    if isinstance(application.evidence, DomainError):
        raise application.evidence
    resident_id = parse_resident_id(application.resident_id_number, today=today)
    region, school = place_of(application.region_code, application.school_code, regions, schools)
    applicant = check_applicant(
        resident_id=resident_id,
        name=application.name,
        phone=application.phone,
        category=application.category,
        evidence=application.evidence,
        school_code=school.code if school else None,
        today=today,
    )
    applicant = replace(applicant, wait_exemption=application.wait_exemption)
    return Candidate(application.key, resident_id.number, region, applicant=applicant)


async def admit(candidates: Sequence[Candidate], uow: RegistrationUnitOfWork, now: dt.datetime) -> dict[int, Outcome]:
    """The pipeline from the lock on: one open enrollment per person (R8), active at once or pending
    review (R7), the years owed (R7a, R13, R13a), enrollment.registered for the tax side, the check
    document rewritten (R16)."""
    if not candidates:
        return {}
    numbers = sorted({c.number for c in candidates})
    await uow.enrollments.lock_persons(numbers, now)
    held = await uow.enrollments.open_enrollments_of(numbers)
    external = await uow.external.active_of(numbers)
    regions = {c.region.code: c.region for c in candidates}
    regions |= await uow.regions.regions_of(sorted({code for _, code in held.values()} - set(regions)))
    policies = await uow.regions.current_policies_of(sorted({c.region.code for c in candidates}))
    covered = await uow.enrollments.years_with_status(numbers, YearStatus.COVERED)
    outcomes: dict[int, Outcome] = {}
    decided: list[tuple[Candidate, Enrollment, list[YearAssessment]]] = []
    for c in candidates:
        own = held.get(c.number)
        if own is not None and c.pending is not None and own[0] == c.pending.enrollment_id:
            own = None  # the registration being approved is the open one
        try:
            check_not_enrolled(
                resident_id_number=c.number,
                target=c.region,
                held=HeldEnrollment(own[0], regions[own[1]]) if own else None,
                external=external.get(c.number, []),
            )
            if c.pending is not None:
                enrollment, years = approved(c.pending, policies[c.region.code], now)
            else:
                assert c.applicant is not None
                decision = new_enrollment(c.applicant, c.region, policies[c.region.code], now)
                enrollment, years = decision.enrollment, decision.years
        except DomainError as error:
            outcomes[c.key] = error
            continue
        decided.append((c, enrollment, not_yet_covered(years, covered.get(c.number, set()))))
    inserted = await uow.enrollments.insert([e for c, e, _ in decided if c.pending is None])
    active: list[tuple[Enrollment, list[YearAssessment]]] = []
    for c, enrollment, years in decided:
        if c.pending is None and enrollment.enrollment_id not in inserted:
            outcomes[c.key] = _already_enrolled()  # backstop: the unique index on open_resident_id
            continue
        if c.pending is not None:
            await uow.enrollments.save_state(enrollment, reviewed_by=c.officer)
        outcomes[c.key] = enrollment
        if enrollment.state is EnrollmentState.ACTIVE:
            active.append((enrollment, years))
    await uow.enrollments.insert_years([(e.enrollment_id, y) for e, years in active for y in years])
    if active:
        await uow.outbox.add_many(
            event_types.ENROLLMENT_REGISTERED, [events.registered(e, ys) for e, ys in active], occurred_at=now
        )
    admitted = [o for o in outcomes.values() if isinstance(o, Enrollment)]
    await uow.projection.refresh([e.resident_id_number for e in admitted], now)
    for e in admitted:
        log.info(
            "resident_admitted",
            enrollment_id=e.enrollment_id,
            resident=mask(e.resident_id_number),
            region_code=e.region_code,
            category=e.category,
            state=e.state,
        )
    return outcomes


def _already_enrolled() -> FailedPrecondition:
    return FailedPrecondition(
        "ALREADY_ENROLLED",
        "this person was registered concurrently by another submission",
        "此人已有有效的参保登记,不能重复参保",
        field="resident_id_number",
    )
