"""R7, R11, R12: the enrollment state machine."""

from __future__ import annotations

import datetime as dt

import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.registration.domain.lifecycle import (
    check_can_review,
    check_can_stop,
    checked_rejection_reason,
    eighteenth_birthday,
    is_aged_out,
)
from services.registration.domain.model import Category, Enrollment, EnrollmentState, StopReason

NOW = dt.datetime(2023, 11, 20, 10, 0, tzinfo=dt.UTC)


def enrollment(state: EnrollmentState) -> Enrollment:
    return Enrollment(
        enrollment_id="e-1",
        resident_id_number="340802198001011234",
        name="王五",
        phone="13800138000",
        birth_date=dt.date(1980, 1, 1),
        region_code="340800",
        school_code=None,
        category=Category.NON_EMPLOYED,
        state=state,
        sequence=1,
        evidence=(),
        created_at=NOW,
        updated_at=NOW,
    )


def test_only_a_pending_registration_can_be_reviewed() -> None:
    check_can_review(enrollment(EnrollmentState.PENDING_REVIEW))
    for state in (EnrollmentState.ACTIVE, EnrollmentState.REJECTED, EnrollmentState.STOPPED):
        with pytest.raises(FailedPrecondition) as refused:
            check_can_review(enrollment(state))
        assert refused.value.reason == "NOT_PENDING_REVIEW"


def test_a_rejection_needs_a_reason() -> None:
    with pytest.raises(InvalidArgument) as refused:
        checked_rejection_reason("   ")
    assert refused.value.field == "reason"
    assert checked_rejection_reason(" 材料不清晰 ") == "材料不清晰"


def test_only_an_active_enrollment_is_stopped_on_request() -> None:
    check_can_stop(enrollment(EnrollmentState.ACTIVE), StopReason.MOVED_AWAY, "")
    with pytest.raises(FailedPrecondition):
        check_can_stop(enrollment(EnrollmentState.PENDING_REVIEW), StopReason.MOVED_AWAY, "")
    with pytest.raises(FailedPrecondition):
        check_can_stop(enrollment(EnrollmentState.STOPPED), StopReason.MOVED_AWAY, "")


def test_stop_reason_other_needs_a_note_and_aged_out_is_not_requestable() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_can_stop(enrollment(EnrollmentState.ACTIVE), StopReason.OTHER, " ")
    assert refused.value.field == "note"
    with pytest.raises(InvalidArgument):
        check_can_stop(enrollment(EnrollmentState.ACTIVE), StopReason.AGED_OUT, "")


def test_eighteenth_birthday_of_a_leap_day_child() -> None:
    assert eighteenth_birthday(dt.date(2004, 2, 29)) == dt.date(2022, 3, 1)
    assert eighteenth_birthday(dt.date(2005, 6, 1)) == dt.date(2023, 6, 1)


def test_a_minor_ages_out_on_the_eighteenth_birthday_not_the_day_before() -> None:
    birth = dt.date(2005, 6, 1)
    assert not is_aged_out(Category.MINOR, EnrollmentState.ACTIVE, birth, dt.date(2023, 5, 31))
    assert is_aged_out(Category.MINOR, EnrollmentState.ACTIVE, birth, dt.date(2023, 6, 1))
    assert is_aged_out(Category.NEWBORN, EnrollmentState.ACTIVE, birth, dt.date(2023, 6, 1))
    assert not is_aged_out(Category.COLLEGE_STUDENT, EnrollmentState.ACTIVE, birth, dt.date(2023, 6, 1))
    assert not is_aged_out(Category.MINOR, EnrollmentState.STOPPED, birth, dt.date(2023, 6, 1))
