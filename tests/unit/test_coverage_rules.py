"""R14: coverage is granted by a payment inside the payable period, withdrawn by its refund."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.coverage import GrantDecision, decide_grant, should_withdraw
from services.registration.domain.model import EnrollmentYear, YearStatus

D = dt.date
YEAR = EnrollmentYear(
    insurance_year=2024,
    status=YearStatus.AWAITING_PAYMENT,
    coverage=DateRange(D(2024, 1, 1), D(2024, 12, 31)),
    payable=DateRange(D(2023, 9, 1), D(2023, 12, 31)),
    newborn_current_year=False,
    policy_version=1,
    standard_fen=Fen(38000),
    subsidy_fen=Fen(0),
    collection_window=DateRange(D(2023, 9, 1), D(2023, 12, 31)),
)


def test_a_payment_on_the_last_day_of_the_window_grants() -> None:
    assert decide_grant(YEAR, "p1", D(2023, 12, 31)) is GrantDecision.GRANT


def test_a_payment_after_the_window_grants_nothing() -> None:
    assert decide_grant(YEAR, "p1", D(2024, 1, 1)) is GrantDecision.PAID_OUTSIDE_PERIOD


def test_the_same_payment_again_is_already_granted_and_another_payment_grants_nothing() -> None:
    covered = replace(YEAR, status=YearStatus.COVERED, paid_by_payment_id="p1")
    assert decide_grant(covered, "p1", D(2023, 12, 1)) is GrantDecision.ALREADY_GRANTED
    assert decide_grant(covered, "p2", D(2023, 12, 1)) is GrantDecision.COVERED_BY_OTHER_PAYMENT


def test_a_cancelled_year_is_not_granted() -> None:
    assert (
        decide_grant(replace(YEAR, status=YearStatus.CANCELLED), "p1", D(2023, 12, 1)) is GrantDecision.YEAR_CANCELLED
    )


def test_only_the_granting_payments_refund_withdraws() -> None:
    covered = replace(YEAR, status=YearStatus.COVERED, paid_by_payment_id="p1")
    assert should_withdraw(covered, "p1")
    assert not should_withdraw(covered, "p2")
    assert not should_withdraw(YEAR, "p1")
