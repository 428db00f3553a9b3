"""Waiting periods (待遇等待期, R37, R38): decided once, when coverage is granted, from the payment date,
the benefit period, continuity, exemptions and repairs. Coverage starts on the day the wait ends.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.periods import DateRange, cst_date
from services.registration.domain.continuity import Continuity
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import Category, ExternalEnrollment, Scheme

SUBSIDISED_HARDSHIP = frozenset(
    {Category.HARDSHIP_LOW_INCOME, Category.HARDSHIP_SEVERE_DISABILITY, Category.HARDSHIP_EXTREME_POVERTY}
)


class Exemption(enum.StrEnum):
    NEWBORN = "NEWBORN"
    SUBSIDISED_HARDSHIP = "SUBSIDISED_HARDSHIP"
    SCHEME_SWITCH = "SCHEME_SWITCH"
    REGION_REASON = "REGION_REASON"


@dataclass(frozen=True)
class Wait:
    """A grant's wait and why: months of each part, the exemption if any, the day coverage starts."""

    months: int
    fixed_months: int
    variable_months: int
    repaired_months: int
    gap_years: int
    outside_window: bool
    floor_applied: bool
    exemption: Exemption | None
    coverage_starts: dt.date

    @property
    def waits(self) -> bool:
        return self.months > 0


@dataclass(frozen=True)
class GrantFacts:
    """What the wait of one paid year depends on."""

    insurance_year: int
    category: Category
    birth_date: dt.date
    coverage: DateRange  # the year's coverage as assessed (benefit period, or from birth)
    wait_free_until: dt.date | None  # None: a year sold on the rules before 2025
    subsidy_fen: int
    paid_on: dt.date
    newborn_deadline: dt.date
    exempt_reason: str | None = None  # a region-listed reason stated at registration


def decide_wait(
    facts: GrantFacts, rules: LongTermRules, continuity: Continuity, external: tuple[ExternalEnrollment, ...] = ()
) -> Wait:
    """The wait of a paid year (R37): none when paid in the window after continuous enrollment, or when
    exempt; else the fixed months plus the variable months per further gap year, less one month per
    repaired gap year (R38), never below the floor after a long gap and never shortening the fixed wait."""
    start = facts.coverage.start
    if facts.wait_free_until is None or not rules.enabled:
        return _no_wait(start, None, gap_years=0, outside=False)
    counting_from = max(rules.gap_counting_from_year, facts.birth_date.year)
    gap = continuity.gap_years_before(facts.insurance_year, counting_from)
    outside = facts.paid_on > facts.wait_free_until
    exemption = _exemption(facts, rules, external)
    if exemption is not None or (gap == 0 and not outside):
        # No wait is a wait of no length, run from the later of the payment and the benefit period's
        # start (R37): paid outside the window, an exempt person is covered from the payment day, not
        # back to January; a newborn is covered from birth (R13).
        if outside and exemption not in (None, Exemption.NEWBORN):
            start = max(facts.paid_on, start)
        return _no_wait(start, exemption, gap_years=gap, outside=outside)
    counted = gap if rules.first_gap_year_counts else max(gap - 1, 0)
    variable = counted * rules.variable_wait_months_per_gap_year
    repaired = min(
        continuity.repaired_gap_years_before(facts.insurance_year, counting_from)
        * rules.variable_wait_months_per_gap_year,
        variable,
    )
    unrepaired = rules.fixed_wait_months + variable
    months = unrepaired - repaired
    floor_applied = False
    if repaired and gap >= rules.floor_gap_years:
        floor = min(rules.repaired_wait_floor_months, unrepaired)
        if months < floor:
            months, floor_applied = floor, True
    runs_from = max(facts.paid_on, facts.coverage.start)
    return Wait(
        months=months,
        fixed_months=rules.fixed_wait_months,
        variable_months=variable,
        repaired_months=repaired,
        gap_years=gap,
        outside_window=outside,
        floor_applied=floor_applied,
        exemption=None,
        coverage_starts=add_months(runs_from, months),
    )


def add_months(day: dt.date, months: int) -> dt.date:
    """The day `months` after `day` (10 Feb + 3 → 10 May). A month without that day ends the wait on
    its last day (民法典 art. 202), so coverage starts the day after: 30 Nov + 3 → 1 Mar."""
    if months == 0:
        return day
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    if day.day <= last:
        return dt.date(year, month, day.day)
    return dt.date(year, month, last) + dt.timedelta(days=1)


def _exemption(facts: GrantFacts, rules: LongTermRules, external: tuple[ExternalEnrollment, ...]) -> Exemption | None:
    if facts.category is Category.NEWBORN and facts.paid_on <= facts.newborn_deadline:
        return Exemption.NEWBORN
    if hardship_exempt(facts.category, facts.subsidy_fen):
        return Exemption.SUBSIDISED_HARDSHIP
    for other in external:
        if other.scheme is Scheme.EMPLOYEE and other.ended_at is not None:
            ended = cst_date(other.ended_at)
            if ended <= facts.paid_on <= add_months(ended, rules.scheme_switch_months):
                return Exemption.SCHEME_SWITCH
    if reason_exempt(facts.exempt_reason, rules):
        return Exemption.REGION_REASON
    return None


def hardship_exempt(category: Category, subsidy_fen: int) -> bool:
    """R37: a hardship category the region subsidises waits for nothing."""
    return category in SUBSIDISED_HARDSHIP and subsidy_fen > 0


def reason_exempt(exempt_reason: str | None, rules: LongTermRules) -> bool:
    """R37: a reason stated at registration that the region lists waits for nothing."""
    return bool(exempt_reason) and exempt_reason in rules.exempt_reasons


def exempt_when_registering(
    category: Category, subsidy_fen: int, exempt_reason: str | None, rules: LongTermRules
) -> bool:
    """Whether a registration already shows that no wait will apply (a subsidised hardship category, a
    listed reason): the year in progress is then worth buying to its last day (R36)."""
    return hardship_exempt(category, subsidy_fen) or reason_exempt(exempt_reason, rules)


def _no_wait(start: dt.date, exemption: Exemption | None, *, gap_years: int, outside: bool) -> Wait:
    return Wait(0, 0, 0, 0, gap_years, outside, False, exemption, start)


def wait_to_json(wait: Wait) -> dict[str, object]:
    """The stored form of a wait, kept with its grant: how long, of which parts, and why."""
    return {
        "months": wait.months,
        "fixed_months": wait.fixed_months,
        "variable_months": wait.variable_months,
        "repaired_months": wait.repaired_months,
        "gap_years": wait.gap_years,
        "outside_window": wait.outside_window,
        "floor_applied": wait.floor_applied,
        "exemption": wait.exemption.value if wait.exemption else None,
        "coverage_starts": wait.coverage_starts.isoformat(),
    }


def explain(stored: Mapping[str, Any]) -> str:
    """A stored wait (wait_to_json) in an officer's words: why this many months."""
    if stored.get("exemption"):
        return f"no wait: exempt ({stored['exemption']})"
    if not stored.get("months"):
        return "no wait: continuous, paid in the window" if stored else "no wait: sold on the rules before 2025"
    parts = [f"{stored['fixed_months']} fixed"]
    if stored["variable_months"]:
        parts.append(f"+ {stored['variable_months']} for {stored['gap_years']} missed years")
    if stored["repaired_months"]:
        parts.append(f"- {stored['repaired_months']} repaired")
    if stored.get("floor_applied"):
        parts.append("(floor after a long gap)")
    why = "paid outside the window" if stored.get("outside_window") else "not continuous"
    return f"{stored['months']} months: " + " ".join(parts) + f"; {why}"
