"""Enrollment state machine: review (R7), stop (R11), age-out (R12).

    PENDING_REVIEW --approve--> ACTIVE --stop--> STOPPED
    PENDING_REVIEW --reject---> REJECTED        ACTIVE --18th birthday--> AGED_OUT
Years already paid stay covered after a stop (待遇享受至年底); unpaid years are cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.periods import cst_date
from services.common.resident_id import ResidentId
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    EnrollmentYear,
    RegionPolicy,
    StopReason,
    YearStatus,
)
from services.registration.domain.registration import (
    ADULT_AGE,
    YearAssessment,
    years_on_approval,
    years_to_assess,
)

MAX_REASON_LENGTH = 500
AGE_OUT_CATEGORIES = frozenset({Category.MINOR, Category.NEWBORN})


def check_can_review(enrollment: Enrollment) -> None:
    if enrollment.state is not EnrollmentState.PENDING_REVIEW:
        raise FailedPrecondition(
            "NOT_PENDING_REVIEW",
            f"enrollment {enrollment.enrollment_id} is {enrollment.state}, not waiting for review",
            "该参保登记不在待审核状态",
            metadata={"enrollment_id": enrollment.enrollment_id, "state": enrollment.state},
        )


def checked_rejection_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidArgument("FIELD_REQUIRED", "a rejection needs a reason", "审核不通过须填写原因", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidArgument("REASON_TOO_LONG", "reason is too long", "原因过长", field="reason")
    return reason


def check_can_stop(enrollment: Enrollment, reason: StopReason, note: str) -> None:
    """Only an active enrollment is stopped on request; a pending one is rejected instead."""
    if reason is StopReason.AGED_OUT:
        raise InvalidArgument(
            "INVALID_STOP_REASON",
            "AGED_OUT is set by the system, not on request",
            "超龄停保由系统自动办理",
            field="reason",
        )
    if reason is StopReason.OTHER and not note.strip():
        raise InvalidArgument("FIELD_REQUIRED", "reason OTHER needs a note", "停保原因为其他时须填写说明", field="note")
    if len(note) > MAX_REASON_LENGTH:
        raise InvalidArgument("REASON_TOO_LONG", "note is too long", "说明过长", field="note")
    if enrollment.state is not EnrollmentState.ACTIVE:
        raise FailedPrecondition(
            "NOT_ACTIVE",
            f"enrollment {enrollment.enrollment_id} is {enrollment.state}; only an active enrollment can be stopped",
            "只有正常参保状态的参保登记可以办理停保",
            metadata={"enrollment_id": enrollment.enrollment_id, "state": enrollment.state},
        )


def eighteenth_birthday(birth_date: dt.date) -> dt.date:
    """The 18th birthday; 29 February births turn 18 on 1 March in non-leap years."""
    try:
        return birth_date.replace(year=birth_date.year + ADULT_AGE)
    except ValueError:
        return dt.date(birth_date.year + ADULT_AGE, 3, 1)


def adult_birth_cutoff(today: dt.date) -> dt.date:
    """The latest birth date of someone who is 18 on `today`; queries take it as a parameter, so the age
    rule lives here only (a 29 February birthday counts from 1 March)."""
    try:
        return today.replace(year=today.year - ADULT_AGE)
    except ValueError:  # today is 29 February
        return dt.date(today.year - ADULT_AGE, 2, 28)


def is_aged_out(category: Category, state: EnrollmentState, birth_date: dt.date, today: dt.date) -> bool:
    """A minor of the region who has turned 18 is stopped (超龄停保, R12)."""
    return (
        state is EnrollmentState.ACTIVE
        and category in AGE_OUT_CATEGORIES
        and ResidentId("", birth_date).age_on(today) >= ADULT_AGE
    )


def years_cancelled_by_stop(years: Iterable[EnrollmentYear]) -> list[int]:
    """A stop or an age-out cancels the unpaid years; paid years stay covered (待遇享受至年底, R11)."""
    return [y.insurance_year for y in years if y.status is YearStatus.AWAITING_PAYMENT]


def stop_year_of(state: EnrollmentState, birth_date: dt.date, stopped_on: dt.date) -> int:
    """The year an enrollment ended in: an age-out counts in the year of the 18th birthday (R12)."""
    return eighteenth_birthday(birth_date).year if state is EnrollmentState.AGED_OUT else stopped_on.year


def ended_on(enrollment: Enrollment) -> dt.date | None:
    """The day an ended enrollment stopped counting: the stop date, or the 18th birthday (R12, R15)."""
    if enrollment.state is EnrollmentState.AGED_OUT:
        return eighteenth_birthday(enrollment.birth_date)
    if enrollment.state is EnrollmentState.STOPPED and enrollment.stopped_at is not None:
        return enrollment.stopped_at.date()
    return None


def approved(
    pending: Enrollment, policies: Mapping[int, RegionPolicy], now: dt.datetime
) -> tuple[Enrollment, list[YearAssessment]]:
    """An officer's approval (R7): active from now, owing the years of the registration date, each
    payable at least for the region's grace period after today (R7a)."""
    check_can_review(pending)
    registered_on = cst_date(pending.created_at)
    years = years_to_assess(
        category=pending.category,
        birth_date=pending.birth_date,
        registered_on=registered_on,
        policies=policies,
        wait_exemption=pending.wait_exemption,
    )
    active = replace(pending, state=EnrollmentState.ACTIVE, sequence=pending.sequence + 1, updated_at=now)
    return active, years_on_approval(years, registered_on, now.date(), policies)


def rejected(pending: Enrollment, reason: str, now: dt.datetime) -> Enrollment:
    """An officer's rejection with a reason (R7); nothing was assessed, so nothing is owed."""
    check_can_review(pending)
    return replace(
        pending,
        state=EnrollmentState.REJECTED,
        rejection_reason=checked_rejection_reason(reason),
        sequence=pending.sequence + 1,
        updated_at=now,
    )


@dataclass(frozen=True)
class Ended:
    """An enrollment that has just ended, and the unpaid years the end cancels."""

    enrollment: Enrollment
    cancelled_years: list[int]


def stopped(enrollment: Enrollment, reason: StopReason, note: str, now: dt.datetime) -> Ended:
    """停保 on request (R11)."""
    check_can_stop(enrollment, reason, note)
    return _ended(enrollment, EnrollmentState.STOPPED, reason, note.strip() or None, now)


def aged_out(enrollment: Enrollment, now: dt.datetime) -> Ended:
    """超龄停保 (R12): the system stops a minor of the region who has turned 18."""
    if not is_aged_out(enrollment.category, enrollment.state, enrollment.birth_date, now.date()):
        raise FailedPrecondition(
            "NOT_AGED_OUT",
            f"enrollment {enrollment.enrollment_id} is not an active minor aged 18",
            "该参保人不符合超龄停保条件",
            metadata={"enrollment_id": enrollment.enrollment_id},
        )
    return _ended(enrollment, EnrollmentState.AGED_OUT, StopReason.AGED_OUT, None, now)


def _ended(
    enrollment: Enrollment, state: EnrollmentState, reason: StopReason, note: str | None, now: dt.datetime
) -> Ended:
    ended = replace(
        enrollment,
        state=state,
        stop_reason=reason,
        stop_note=note,
        stopped_at=now,
        stop_year=stop_year_of(state, enrollment.birth_date, now.date()),
        sequence=enrollment.sequence + 1,
        updated_at=now,
    )
    return Ended(ended, years_cancelled_by_stop(enrollment.years))
