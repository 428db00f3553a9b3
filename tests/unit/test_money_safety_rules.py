"""Cross-agency money rules without I/O: which refusals compensate (R14a), which collisions are early
(R17a), what a refund leaves an item as, which refunds a worker may claim, years already covered."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.assessment import conflict_is_early
from services.collection.domain.model import ItemStatus, RefundStatus
from services.collection.domain.refunds import CLAIMABLE, check_result_expected, item_status_after_refund
from services.common.errors import FailedPrecondition
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.coverage import GrantDecision, is_refusal
from services.registration.domain.registration import YearAssessment, not_yet_covered

D = dt.date


@pytest.mark.parametrize(
    ("decision", "refused"),
    [
        (GrantDecision.GRANT, False),
        (GrantDecision.ALREADY_GRANTED, False),
        (GrantDecision.YEAR_CANCELLED, True),
        (GrantDecision.PAID_OUTSIDE_PERIOD, True),
        (GrantDecision.COVERED_BY_OTHER_PAYMENT, True),
    ],
)
def test_only_a_payment_that_covers_nothing_is_sent_back(decision: GrantDecision, refused: bool) -> None:
    assert is_refusal(decision) is refused


def test_an_unpaid_item_of_another_enrollment_makes_the_event_early_a_paid_one_settles_the_year() -> None:
    assert conflict_is_early(ItemStatus.UNPAID)
    assert not conflict_is_early(ItemStatus.PAID)
    assert not conflict_is_early(ItemStatus.SETTLED_BY_SUBSIDY)


def test_a_refunded_item_is_owed_again_unless_its_enrollment_stopped() -> None:
    assert item_status_after_refund("ACTIVE") is ItemStatus.UNPAID
    assert item_status_after_refund("STOPPED") is ItemStatus.CANCELLED


def test_a_claimed_refund_can_be_claimed_again_after_a_crash_but_not_once_sent() -> None:
    assert RefundStatus.SUBMITTING in CLAIMABLE
    assert RefundStatus.SUBMITTED not in CLAIMABLE and RefundStatus.SUCCEEDED not in CLAIMABLE


def test_the_channel_may_answer_before_we_recorded_the_call() -> None:
    check_result_expected(RefundStatus.SUBMITTING, "r")
    check_result_expected(RefundStatus.SUBMITTED, "r")
    with pytest.raises(FailedPrecondition):
        check_result_expected(RefundStatus.PENDING, "r")


def test_a_year_covered_by_an_ended_enrollment_is_not_owed_again() -> None:
    def year(y: int) -> YearAssessment:
        period = DateRange(D(y, 1, 1), D(y, 12, 31))
        return YearAssessment(y, 1, Fen(40000), Fen(0), period, period, period, False)

    assert [y.insurance_year for y in not_yet_covered([year(2026), year(2027)], {2026})] == [2027]
