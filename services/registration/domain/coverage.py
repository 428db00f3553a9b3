"""Coverage (待遇享受), R14: granted by a payment inside the payable period, from the day its wait ends
(R37), withdrawn by its refund."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.registration.domain.continuity import Continuity, continuity_of
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import (
    Enrollment,
    EnrollmentState,
    EnrollmentYear,
    ExternalEnrollment,
    YearStatus,
)
from services.registration.domain.registration import newborn_deadline
from services.registration.domain.waiting import GrantFacts, Wait, decide_wait


class GrantDecision(enum.Enum):
    GRANT = "GRANT"
    ALREADY_GRANTED = "ALREADY_GRANTED"
    COVERED_BY_OTHER_PAYMENT = "COVERED_BY_OTHER_PAYMENT"
    YEAR_CANCELLED = "YEAR_CANCELLED"
    PAID_OUTSIDE_PERIOD = "PAID_OUTSIDE_PERIOD"


def decide_grant(year: EnrollmentYear, payment_id: str, paid_on: dt.date) -> GrantDecision:
    """Whether a confirmed payment covers this year: only a premium paid inside the payable period (the
    window, a newborn's 90 days, and from 2025 the off-window sale, R36) grants coverage."""
    if year.status is YearStatus.COVERED:
        if year.paid_by_payment_id == payment_id:
            return GrantDecision.ALREADY_GRANTED
        return GrantDecision.COVERED_BY_OTHER_PAYMENT
    if year.status is YearStatus.CANCELLED:
        return GrantDecision.YEAR_CANCELLED
    if paid_on not in year.payable:
        return GrantDecision.PAID_OUTSIDE_PERIOD
    return GrantDecision.GRANT


def should_withdraw(year: EnrollmentYear, payment_id: str) -> bool:
    """A refund withdraws coverage only when this very payment granted it."""
    return year.status is YearStatus.COVERED and year.paid_by_payment_id == payment_id


def status_after_refund(state: EnrollmentState) -> YearStatus:
    """A year whose payment was refunded is payable again while the enrollment is active; an ended
    enrollment's year stays cancelled (R11, R14)."""
    return YearStatus.AWAITING_PAYMENT if state is EnrollmentState.ACTIVE else YearStatus.CANCELLED


# R14a: a confirmed payment that grants nothing is answered with coverage.refused, so tax returns the money.
REFUSALS = frozenset(
    {GrantDecision.YEAR_CANCELLED, GrantDecision.PAID_OUTSIDE_PERIOD, GrantDecision.COVERED_BY_OTHER_PAYMENT}
)


def is_refusal(decision: GrantDecision) -> bool:
    """Whether the payment must be returned because it covers nothing here (R14a)."""
    return decision in REFUSALS


@dataclass(frozen=True)
class GrantedCoverage:
    """What a grant writes on its year: the payment day, the wait, and the first covered day."""

    paid_on: dt.date
    wait_months: int
    covered_from: dt.date


def grant_facts(enrollment: Enrollment, year: EnrollmentYear, paid_on: dt.date) -> GrantFacts:
    """The facts a year's wait is decided from (R37)."""
    return GrantFacts(
        insurance_year=year.insurance_year,
        category=enrollment.category,
        birth_date=enrollment.birth_date,
        coverage=year.coverage,
        wait_free_until=year.wait_free_until,
        subsidy_fen=year.subsidy_fen,
        paid_on=paid_on,
        newborn_deadline=newborn_deadline(enrollment.birth_date),
        exempt_reason=enrollment.wait_exemption.reason if enrollment.wait_exemption else None,
    )


def decide_coverage(
    enrollment: Enrollment,
    year: EnrollmentYear,
    paid_on: dt.date,
    rules: LongTermRules,
    person: PersonHistory,
) -> tuple[GrantedCoverage, Wait]:
    """The coverage a granted year gets: from the day its wait ends (R37)."""
    wait = decide_wait(grant_facts(enrollment, year, paid_on), rules, person.continuity, person.external)
    return GrantedCoverage(paid_on, wait.months, wait.coverage_starts), wait


@dataclass(frozen=True)
class PersonHistory:
    """What insurance knows of a person's enrollment across regions and schemes."""

    enrollments: tuple[Enrollment, ...]
    external: tuple[ExternalEnrollment, ...]
    continuity: Continuity


def person_history(
    enrollments: Sequence[Enrollment], external: Sequence[ExternalEnrollment], repaired: Iterable[int], today: dt.date
) -> PersonHistory:
    return PersonHistory(
        tuple(enrollments), tuple(external), continuity_of(enrollments, external, repaired, today=today)
    )


@dataclass(frozen=True)
class Restart:
    """A granted year whose wait, decided again, ends earlier than it did (R38: a repair paid after the
    year, or an earlier year granted after a later one)."""

    enrollment_id: str
    insurance_year: int
    wait: Wait


def earlier_starts(person: PersonHistory, rules_of: Mapping[tuple[str, int, int], LongTermRules]) -> list[Restart]:
    """Granted years of the person that would now start earlier. A start is only ever moved earlier:
    coverage granted is not cut back by a later event except its own refund."""
    moved: list[Restart] = []
    for enrollment in person.enrollments:
        for year in enrollment.years:
            if year.status is not YearStatus.COVERED or year.paid_on is None or year.wait_months == 0:
                continue
            rules = rules_of.get((enrollment.region_code, year.insurance_year, year.policy_version))
            if rules is None:
                continue
            wait = decide_wait(grant_facts(enrollment, year, year.paid_on), rules, person.continuity, person.external)
            if wait.coverage_starts < year.covered_period.start:
                moved.append(Restart(enrollment.enrollment_id, year.insurance_year, wait))
    return moved
