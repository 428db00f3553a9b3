"""`medins audit`: every grant's start obeys the waiting rule of its policy version (R37)."""

from __future__ import annotations

import datetime as dt

import pytest

from ops.audit_waits import WaitSnapshot, check_grant_starts
from services.common.money import Fen
from services.common.periods import CST, DateRange
from services.registration.domain.coverage import person_history
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import Category, Enrollment, EnrollmentState, EnrollmentYear, YearStatus

D = dt.date
NUMBER = "320402198001017599"


def person(covered_from: dt.date) -> WaitSnapshot:
    year = EnrollmentYear(
        insurance_year=2027,
        status=YearStatus.COVERED,
        coverage=DateRange(D(2027, 1, 1), D(2027, 12, 31)),
        payable=DateRange(D(2026, 9, 1), D(2027, 9, 30)),
        newborn_current_year=False,
        policy_version=1,
        standard_fen=Fen(42000),
        subsidy_fen=Fen(0),
        collection_window=DateRange(D(2026, 9, 1), D(2026, 12, 31)),
        paid_by_payment_id="p-1",
        wait_free_until=D(2026, 12, 31),
        paid_on=D(2027, 2, 10),
        wait_months=4,
        covered_from=covered_from,
    )
    now = dt.datetime(2027, 2, 10, tzinfo=CST)
    enrollment = Enrollment(
        "e-1",
        NUMBER,
        "张三",
        "13800138000",
        D(1980, 1, 1),
        "320400",
        None,
        Category.NON_EMPLOYED,
        EnrollmentState.ACTIVE,
        2,
        (),
        now,
        now,
        years=(year,),
    )
    return WaitSnapshot(
        [person_history([enrollment], [], (), D(2027, 2, 10))], {("320400", 2027, 1): LongTermRules()}, set()
    )


def test_a_start_the_rule_gives_is_clean() -> None:
    # Missed 2025 and 2026, paid 10 Feb 2027 outside the window: 3 + 1 months → 10 Jun 2027.
    assert check_grant_starts(person(D(2027, 6, 10))).violations == []


@pytest.mark.parametrize("stored", [D(2027, 5, 10), D(2027, 7, 10)])
def test_a_start_earlier_or_later_than_the_rule_is_a_violation(stored: dt.date) -> None:
    (violation,) = check_grant_starts(person(stored)).violations
    assert "the rule says 2027-06-10" in violation and "320402********7599" in violation
