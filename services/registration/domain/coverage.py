"""Coverage (待遇享受), R14: granted by a payment inside the payable period, withdrawn by its refund."""

from __future__ import annotations

import datetime as dt
import enum

from services.registration.domain.model import EnrollmentState, EnrollmentYear, YearStatus


class GrantDecision(enum.Enum):
    GRANT = "GRANT"
    ALREADY_GRANTED = "ALREADY_GRANTED"
    COVERED_BY_OTHER_PAYMENT = "COVERED_BY_OTHER_PAYMENT"
    YEAR_CANCELLED = "YEAR_CANCELLED"
    PAID_OUTSIDE_PERIOD = "PAID_OUTSIDE_PERIOD"


def decide_grant(year: EnrollmentYear, payment_id: str, paid_on: dt.date) -> GrantDecision:
    """Whether a confirmed payment covers this year. Only a premium paid inside the window (or, for a
    newborn, within 90 days of birth) grants coverage; anything else grants nothing."""
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
