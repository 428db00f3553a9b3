"""Before paying (R37, R38): when coverage would start if paid on a day, how much earlier each repaired
missed year would make it, and the repair items themselves (enrollment.repair_offered → tax)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import structlog

from services.common.clock import Clock
from services.common.errors import FailedPrecondition
from services.common.messaging import envelope as event_types
from services.common.resident_id import mask, parse_resident_id
from services.registration import events
from services.registration.domain.coverage import PersonHistory
from services.registration.domain.model import Enrollment, EnrollmentYear, RegionPolicy, YearStatus
from services.registration.domain.repair import Quote, RepairOffer, ensure_repairable, repair_plan
from services.registration.handlers.coverage import load_history
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def quote_coverage(
    number_text: str, year: int, paid_on: dt.date | None, uow: RegistrationUnitOfWork, clock: Clock
) -> Quote:
    """The wait if the year were paid on `paid_on` (default today), the missed years whose repair would
    shorten it (most recent first) and those whose repair would not (repair_plan decides, R38)."""
    now = clock.now()
    number = parse_resident_id(number_text, today=now.date()).number
    person = await load_history(uow, number, now)
    enrollment, held, policy = await _year_to_pay(uow, person, number, year)
    return repair_plan(enrollment, held, policy, person, paid_on or now.date())


async def offer_repairs(number_text: str, year: int, uow: RegistrationUnitOfWork, clock: Clock) -> list[RepairOffer]:
    """Announces the person's missed years before `year` that would shorten its wait as repair items
    (R38; repair_plan decides which): a repair that moves nothing is not sold. Tax assesses them once
    (offering again finds the items there and adds nothing)."""
    now = clock.now()
    number = parse_resident_id(number_text, today=now.date()).number
    await uow.enrollments.lock_persons([number], now)
    person = await load_history(uow, number, now)
    enrollment, held, policy = await _year_to_pay(uow, person, number, year, paid_too=True)
    ensure_repairable(held, policy)
    plan = repair_plan(enrollment, held, policy, person, held.paid_on or now.date())
    offers = [step.offer for step in plan.repairs]
    if not offers and plan.idle_years:
        idle = ", ".join(str(y) for y in sorted(plan.idle_years))
        raise FailedPrecondition(
            "REPAIR_WOULD_NOT_SHORTEN",
            f"repairing {idle} would not move the start of {year}: a wait of {plan.least_wait_months} months "
            "remains whatever is repaired",
            f"修复{idle}年度不能缩短{year}年度的待遇等待期",
            metadata={"insurance_year": str(year), "idle_years": idle},
        )
    if not offers:
        raise FailedPrecondition(
            "NOTHING_TO_REPAIR",
            f"no missed year before {year} is left to repair",
            f"{year}年度之前无断缴年度需要修复",
            metadata={"insurance_year": str(year)},
        )
    sequence = (await uow.enrollments.bump_sequences([enrollment.enrollment_id], now))[enrollment.enrollment_id]
    await uow.outbox.add(
        event_types.ENROLLMENT_REPAIR_OFFERED,
        events.repair_offered(replace(enrollment, sequence=sequence), offers),
        occurred_at=now,
    )
    log.info(
        "repairs_offered",
        enrollment_id=enrollment.enrollment_id,
        years=[o.repaired_year for o in offers],
        idle_years=list(plan.idle_years),
    )
    return offers


async def _year_to_pay(
    uow: RegistrationUnitOfWork, person: PersonHistory, number: str, year: int, *, paid_too: bool = False
) -> tuple[Enrollment, EnrollmentYear, RegionPolicy]:
    """The person's open enrollment holding `year` unpaid (or paid, for a repair after the payment)."""
    wanted = {YearStatus.AWAITING_PAYMENT, YearStatus.COVERED} if paid_too else {YearStatus.AWAITING_PAYMENT}
    for enrollment in person.enrollments:
        held = next((y for y in enrollment.years if y.insurance_year == year and y.status in wanted), None)
        if enrollment.is_open and held is not None:
            policy = await uow.regions.get_policy(enrollment.region_code, year, held.policy_version)
            if policy is not None:
                return enrollment, held, policy
    raise FailedPrecondition(
        "YEAR_NOT_PAYABLE",
        f"{mask(number)} has no {year} assessed and open to pay",
        f"该居民{year}年度未核定或已缴费",
        metadata={"insurance_year": str(year)},
    )
