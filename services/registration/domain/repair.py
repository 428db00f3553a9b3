"""Repair payments (缴费修复, R38): which missed years a person may pay for, at what price, and which of
them are worth selling. A repair grants no coverage for the missed year; each repaired year removes one
month of the variable wait of the year paid for (waiting.py decides how much, with the floor after a
long gap). Once the variable months are gone, or the floor after 4+ gap years binds, a further repair
buys nothing: repair_plan is the one place that decides which years are offered (OfferRepairs) and
quoted (QuoteCoverage).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import FailedPrecondition
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.continuity import Continuity
from services.registration.domain.coverage import PersonHistory, decide_coverage
from services.registration.domain.model import Enrollment, EnrollmentYear, RegionPolicy
from services.registration.domain.policy import subsidy_for
from services.registration.domain.waiting import Wait


@dataclass(frozen=True)
class RepairOffer:
    """One missed year offered for repair, priced by the policy of the year being paid for now."""

    repaired_year: int
    standard_fen: Fen
    subsidy_fen: Fen
    policy_version: int
    payable_until: dt.date
    priced_by_year: int


@dataclass(frozen=True)
class RepairStep:
    """A repair offered, and the first covered day if it and those before it were paid."""

    offer: RepairOffer
    coverage_start_if_repaired: dt.date


@dataclass(frozen=True)
class Quote:
    """What a payer is told before paying (R37, R38): the wait, the repairs that shorten it (each with the
    start if it and those before it were paid), the missed years whose repair would move nothing, and
    the wait that remains with every useful repair paid."""

    wait: Wait
    repairs: tuple[RepairStep, ...]
    idle_years: tuple[int, ...] = ()
    least_wait_months: int = 0


def repairable_years(year: int, continuity: Continuity, counting_from: int) -> list[int]:
    """The missed years right before `year` (back to the gap's start), not repaired yet, oldest first."""
    gap = continuity.gap_years_before(year, counting_from)
    return [y for y in range(year - gap, year) if y not in continuity.repaired]


def ensure_repairable(year: EnrollmentYear, policy: RegionPolicy) -> None:
    """A year sold on the rules before 2025 has no waiting period to shorten (R38)."""
    if not policy.rules.enabled or year.wait_free_until is None:
        raise FailedPrecondition(
            "REPAIR_NOT_OFFERED",
            f"{year.insurance_year} is sold on the rules before 2025: there is no waiting period to shorten",
            f"{year.insurance_year}年度不适用待遇等待期,无需缴费修复",
        )


def repair_offers(
    enrollment: Enrollment, year: EnrollmentYear, policy: RegionPolicy, continuity: Continuity
) -> list[RepairOffer]:
    """What the person may repair before `year` (R38), oldest first: each missed year at `year`'s individual
    standard, with the category subsidy only where the region says so; payable as long as `year` is.
    Which of them are worth selling is repair_plan's answer."""
    rules = policy.rules
    ensure_repairable(year, policy)
    counting_from = max(rules.gap_counting_from_year, enrollment.birth_date.year)
    missed = repairable_years(year.insurance_year, continuity, counting_from)
    standard = policy.individual_standard_fen
    subsidy = subsidy_for(policy, enrollment.category, standard) if rules.repair_subsidised else Fen(0)
    return [
        RepairOffer(missed_year, standard, subsidy, policy.version, year.payable.end, year.insurance_year)
        for missed_year in missed
    ]


def repair_coverage_period(repaired_year: int) -> DateRange:
    """The period a repair item names: the missed year itself (it covers nothing: R38)."""
    return DateRange(dt.date(repaired_year, 1, 1), dt.date(repaired_year, 12, 31))


def repair_plan(
    enrollment: Enrollment, year: EnrollmentYear, policy: RegionPolicy, person: PersonHistory, paid_on: dt.date
) -> Quote:
    """The wait of `year` paid on `paid_on`, and the missed years worth repairing (R38): the most recent
    first, each kept only when it moves the coverage start earlier than those before it did. The others
    (the variable months are used up, the fixed wait remains; the floor after a long gap binds; no wait
    to shorten at all) are idle: selling them would buy the resident nothing."""
    wait = decide_coverage(enrollment, year, paid_on, policy.rules, person)[1]
    if year.wait_free_until is None or not policy.rules.enabled:
        return Quote(wait, (), (), wait.months)  # sold on the rules before 2025: nothing to repair
    steps: list[RepairStep] = []
    idle: list[int] = []
    repaired = set(person.continuity.repaired)
    best = wait
    for offer in reversed(repair_offers(enrollment, year, policy, person.continuity)):
        continuity = Continuity(person.continuity.enrolled, frozenset(repaired | {offer.repaired_year}))
        supposed = PersonHistory(person.enrollments, person.external, continuity)
        after = decide_coverage(enrollment, year, paid_on, policy.rules, supposed)[1]
        if after.coverage_starts < best.coverage_starts:
            repaired.add(offer.repaired_year)
            steps.append(RepairStep(offer, after.coverage_starts))
            best = after
        else:
            idle.append(offer.repaired_year)
    return Quote(wait, tuple(steps), tuple(idle), best.months)
