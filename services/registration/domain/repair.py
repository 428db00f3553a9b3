"""Repair payments (缴费修复, R38): which missed years a person may pay for, and at what price. A repair
grants no coverage for the missed year; each repaired year removes one month of the variable wait of
the year paid for (waiting.py decides how much, with the floor after a long gap).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import FailedPrecondition
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.continuity import Continuity
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
    """What a payer is told before paying (R37, R38)."""

    wait: Wait
    repairs: tuple[RepairStep, ...]


def repairable_years(year: int, continuity: Continuity, counting_from: int) -> list[int]:
    """The missed years right before `year` (back to the gap's start), not repaired yet, oldest first."""
    gap = continuity.gap_years_before(year, counting_from)
    return [y for y in range(year - gap, year) if y not in continuity.repaired]


def repair_offers(
    enrollment: Enrollment, year: EnrollmentYear, policy: RegionPolicy, continuity: Continuity
) -> list[RepairOffer]:
    """What the person may repair before `year` (R38): each missed year at `year`'s individual standard,
    with the category subsidy only where the region says so; payable as long as `year` is."""
    rules = policy.rules
    if not rules.enabled or year.wait_free_until is None:
        raise FailedPrecondition(
            "REPAIR_NOT_OFFERED",
            f"{year.insurance_year} is sold on the rules before 2025: there is no waiting period to shorten",
            f"{year.insurance_year}年度不适用待遇等待期,无需缴费修复",
        )
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
