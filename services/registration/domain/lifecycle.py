"""Enrollment state machine: review (R7), stop (R11), age-out (R12).

    PENDING_REVIEW --approve--> ACTIVE --stop--> STOPPED
    PENDING_REVIEW --reject---> REJECTED        ACTIVE --18th birthday--> AGED_OUT
Years already paid stay covered after a stop (待遇享受至年底); unpaid years are cancelled.
"""

from __future__ import annotations

import datetime as dt

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.resident_id import ResidentId
from services.registration.domain.model import Category, Enrollment, EnrollmentState, StopReason
from services.registration.domain.registration import ADULT_AGE

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


def is_aged_out(category: Category, state: EnrollmentState, birth_date: dt.date, today: dt.date) -> bool:
    """A minor of the region who has turned 18 is stopped (超龄停保, R12)."""
    return (
        state is EnrollmentState.ACTIVE
        and category in AGE_OUT_CATEGORIES
        and ResidentId("", birth_date).age_on(today) >= ADULT_AGE
    )
