"""R15: the enrollment check's answer for a year, what each purpose may see, and the check document's
stored form (one writer, one reader)."""

from __future__ import annotations

import datetime as dt

import pytest
from medins.enrollment.v1 import enrollment_check_service_pb2 as epb

from services.enrollment.domain.check import CheckPurpose, CheckStatus, answer, for_purpose
from services.enrollment.domain.check_document import (
    CheckDocument,
    EnrollmentEntry,
    EntryState,
    EntryYearStatus,
    ExternalEntry,
    IncentiveEntry,
    YearEntry,
    read_document,
    write_document,
)
from services.enrollment.grpc_api import _target

N = "340802198001011234"
D = dt.date


def doc(*enrollments: EnrollmentEntry, external: tuple[ExternalEntry, ...] = ()) -> CheckDocument:
    return CheckDocument(enrollments=enrollments, external=external)


def enrollment(
    state: str,
    years: tuple[YearEntry, ...] = (),
    *,
    since: int = 2023,
    stop_year: int | None = None,
    region: str = "340800",
    region_name: str = "安庆市",
    ended_on: dt.date | None = None,
    end_reason: str | None = None,
) -> EnrollmentEntry:
    return EnrollmentEntry(
        region_code=region,
        region_name=region_name,
        category="MINOR",
        state=EntryState(state),
        since=since,
        years=years,
        stop_year=stop_year,
        ended_on=ended_on,
        end_reason=end_reason,
    )


def year(y: int, status: str, start: dt.date | None = None) -> YearEntry:
    return YearEntry(y, EntryYearStatus(status), start or D(y, 1, 1), D(y, 12, 31))


def test_nobody_known_is_not_enrolled() -> None:
    result = answer(N, 2024, None)
    assert result.status is CheckStatus.NOT_ENROLLED and not result.enrolled


def test_a_paid_year_is_covered_with_its_period() -> None:
    result = answer(
        N, 2023, doc(enrollment("ACTIVE", (year(2023, "COVERED", D(2023, 11, 15)), year(2024, "AWAITING_PAYMENT"))))
    )
    assert result.status is CheckStatus.COVERED and result.enrolled
    assert result.covered_periods == ((D(2023, 11, 15), D(2023, 12, 31)),)
    assert (
        answer(N, 2024, doc(enrollment("ACTIVE", (year(2024, "AWAITING_PAYMENT"),)))).status
        is CheckStatus.REGISTERED_UNPAID
    )


def test_coverage_survives_a_stop_and_later_years_say_stopped_with_date_and_reason() -> None:
    stopped = enrollment(
        "STOPPED", (year(2024, "COVERED"),), since=2023, stop_year=2024, ended_on=D(2024, 6, 3), end_reason="MOVED_AWAY"
    )
    assert answer(N, 2024, doc(stopped)).status is CheckStatus.COVERED
    after = answer(N, 2026, doc(stopped))
    assert (after.status, after.ended_on, after.end_reason) == (CheckStatus.STOPPED, D(2024, 6, 3), "MOVED_AWAY")
    assert not after.enrolled


def test_a_move_between_regions_is_answered_for_the_live_enrollment() -> None:
    """Stopped in Anqing, registered in Xiamen the same year (both created at the same instant, as a
    controlled clock makes them): the year is answered for Xiamen, whatever the order in the document."""
    anqing = enrollment(
        "STOPPED",
        (year(2026, "CANCELLED"),),
        since=2026,
        stop_year=2026,
        ended_on=D(2026, 3, 1),
        end_reason="MOVED_AWAY",
    )
    xiamen = enrollment("ACTIVE", (year(2026, "AWAITING_PAYMENT"),), since=2026, region="350200", region_name="厦门市")
    for ordered in (doc(anqing, xiamen), doc(xiamen, anqing)):
        result = answer(N, 2026, ordered)
        assert (result.status, result.region_code) == (CheckStatus.REGISTERED_UNPAID, "350200")
        assert result.ended_on is None and result.end_reason == ""


def test_an_aged_out_minor_is_aged_out_in_later_years_with_the_birthday() -> None:
    aged = enrollment(
        "AGED_OUT", (year(2026, "COVERED"),), since=2020, stop_year=2026, ended_on=D(2026, 5, 8), end_reason="AGED_OUT"
    )
    assert answer(N, 2026, doc(aged)).status is CheckStatus.COVERED
    for later in (2027, 2030):
        result = answer(N, later, doc(aged))
        assert (result.status, result.ended_on, result.end_reason) == (CheckStatus.AGED_OUT, D(2026, 5, 8), "AGED_OUT")


def test_pending_review_and_aged_out_are_reported() -> None:
    assert answer(N, 2024, doc(enrollment("PENDING_REVIEW"))).status is CheckStatus.PENDING_REVIEW
    assert answer(N, 2024, doc(enrollment("AGED_OUT", stop_year=2024))).status is CheckStatus.AGED_OUT


def test_years_before_the_enrollment_are_not_enrolled() -> None:
    assert answer(N, 2021, doc(enrollment("ACTIVE", since=2023))).status is CheckStatus.NOT_ENROLLED
    assert answer(N, 2021, doc(enrollment("STOPPED", since=2023, stop_year=2024))).status is CheckStatus.NOT_ENROLLED


def test_an_external_employee_enrollment_is_enrolled_elsewhere() -> None:
    result = answer(N, 2024, doc(external=(ExternalEntry("320400", "常州市", "EMPLOYEE"),)))
    assert result.status is CheckStatus.ENROLLED_ELSEWHERE and result.enrolled
    assert (result.region_name, result.scheme) == ("常州市", "EMPLOYEE")


def test_after_a_stop_an_enrollment_held_elsewhere_wins_but_not_during_the_stopped_enrollment() -> None:
    stopped = enrollment("STOPPED", since=2023, stop_year=2024, ended_on=D(2024, 3, 1), end_reason="MOVED_AWAY")
    elsewhere = (ExternalEntry("320400", "常州市", "RESIDENT"),)
    assert answer(N, 2024, doc(stopped, external=elsewhere)).status is CheckStatus.STOPPED
    assert answer(N, 2025, doc(stopped, external=elsewhere)).status is CheckStatus.ENROLLED_ELSEWHERE


def test_rejected_registrations_do_not_count() -> None:
    assert answer(N, 2024, doc(enrollment("REJECTED"))).status is CheckStatus.NOT_ENROLLED


def test_each_purpose_sees_only_what_it_needs() -> None:
    full = answer(N, 2023, doc(enrollment("ACTIVE", (year(2023, "COVERED"),))))
    hospital = for_purpose(full, CheckPurpose.HOSPITAL_SETTLEMENT)
    assert hospital.covered_periods and not hospital.category
    tax = for_purpose(full, CheckPurpose.TAX_COLLECTION)
    assert tax.category == "MINOR" and not tax.covered_periods
    other_region = for_purpose(full, CheckPurpose.CROSS_REGION_REGISTRATION)
    assert other_region.region_code and not other_region.category and not other_region.covered_periods
    assert for_purpose(full, CheckPurpose.INSURANCE_ADMINISTRATION) == full


def test_a_hospital_learns_when_coverage_ended_but_not_why() -> None:
    stopped = enrollment("STOPPED", since=2023, stop_year=2024, ended_on=D(2024, 3, 1), end_reason="DECEASED")
    full = answer(N, 2025, doc(stopped))
    hospital = for_purpose(full, CheckPurpose.HOSPITAL_SETTLEMENT)
    assert (hospital.ended_on, hospital.end_reason) == (D(2024, 3, 1), "")
    other_region = for_purpose(full, CheckPurpose.CROSS_REGION_REGISTRATION)
    assert other_region.end_reason == "DECEASED"


def test_the_stored_document_reads_back_as_written() -> None:
    written = doc(
        enrollment("STOPPED", (year(2024, "CANCELLED"),), stop_year=2024, ended_on=D(2024, 3, 1), end_reason="OTHER"),
        enrollment("ACTIVE", (year(2025, "COVERED", D(2025, 2, 1)),), since=2025),
        external=(ExternalEntry("320400", "常州市", "EMPLOYEE"),),
    )
    assert read_document(write_document(written)) == written
    assert write_document(written)["v"] == 3


def test_a_version_1_document_still_reads() -> None:
    stored = {
        "enrollments": [
            {
                "region": "340800",
                "region_name": "安庆市",
                "category": "MINOR",
                "state": "ACTIVE",
                "since": 2023,
                "stop_year": None,
                "years": [{"year": 2024, "status": "COVERED", "from": "2024-01-01", "to": "2024-12-31"}],
            }
        ],
        "external": [],
    }
    assert answer(N, 2024, read_document(stored)).status is CheckStatus.COVERED


def test_a_document_of_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version 4"):
        read_document({"v": 4, "enrollments": [], "external": []})


# -- R40: the check for a day -------------------------------------------------------------------------

WAITED = YearEntry(2027, EntryYearStatus.COVERED, D(2027, 5, 10), D(2027, 12, 31), wait_months=3)


@pytest.mark.parametrize(
    ("day", "status", "start"),
    [
        (D(2027, 2, 10), CheckStatus.WAITING, D(2027, 5, 10)),
        (D(2027, 5, 9), CheckStatus.WAITING, D(2027, 5, 10)),
        (D(2027, 5, 10), CheckStatus.COVERED, None),
        (D(2027, 12, 31), CheckStatus.COVERED, None),
        (None, CheckStatus.COVERED, None),  # the year as a whole: covered, with its period
    ],
)
def test_a_day_inside_the_wait_is_answered_waiting_with_the_start(
    day: dt.date | None, status: CheckStatus, start: dt.date | None
) -> None:
    found = answer(N, 2027, doc(enrollment("ACTIVE", (WAITED,), since=2027)), day)
    assert (found.status, found.coverage_start, found.on_date) == (status, start, day)
    assert found.covered_periods == ((D(2027, 5, 10), D(2027, 12, 31)),)
    assert found.enrolled


def test_a_year_covered_without_a_wait_is_covered_on_every_day() -> None:
    newborn = YearEntry(2027, EntryYearStatus.COVERED, D(2027, 3, 1), D(2027, 12, 31))
    assert answer(N, 2027, doc(enrollment("ACTIVE", (newborn,))), D(2027, 3, 1)).status is CheckStatus.COVERED


def test_a_day_before_a_no_wait_coverage_began_is_not_covered() -> None:
    """R37, R40: an exempt person who paid on 10 Nov, outside the window, is covered from that day and
    not before: a hospital asking about 9 Nov is told when coverage starts, not COVERED."""
    late = YearEntry(2027, EntryYearStatus.COVERED, D(2027, 11, 10), D(2027, 12, 31))
    stored = doc(enrollment("ACTIVE", (late,), since=2027))
    before = answer(N, 2027, stored, D(2027, 11, 9))
    assert (before.status, before.coverage_start) == (CheckStatus.WAITING, D(2027, 11, 10))
    assert answer(N, 2027, stored, D(2027, 11, 10)).status is CheckStatus.COVERED


def test_the_incentive_is_seen_by_a_hospital_and_not_by_tax() -> None:
    stored = CheckDocument(
        enrollments=(enrollment("ACTIVE", (year(2030, "COVERED"),), since=2025),),
        incentive=(IncentiveEntry(2030, 5, 40_100_000, 100_000),),
    )
    found = answer(N, 2030, stored, D(2030, 6, 1))
    hospital = for_purpose(found, CheckPurpose.HOSPITAL_SETTLEMENT)
    assert (hospital.continuous_years, hospital.serious_illness_cap_fen) == (5, 40_100_000)
    tax = for_purpose(found, CheckPurpose.TAX_COLLECTION)
    assert (tax.continuous_years, tax.serious_illness_cap_fen) == (0, 0)
    assert read_document(write_document(stored)) == stored


def test_a_version_2_document_reads_without_waits() -> None:
    stored = write_document(doc(enrollment("ACTIVE", (WAITED,), since=2027)))
    stored["v"] = 2
    del stored["incentive"]
    for e in stored["enrollments"]:
        for y in e["years"]:
            del y["wait"]
    assert read_document(stored).enrollments[0].years[0].wait_months == 0


def test_a_check_without_a_day_answers_today_the_first_day_of_a_year_to_come_or_a_past_year_whole() -> None:
    """R40 (issue 17 item 5): asked about next year in its window, a payer whose year starts with a wait
    hears WAITING with the start, not COVERED for the year as a whole."""
    today = dt.date(2026, 12, 3)
    number = "320402198001017599"
    answers = [
        _target(epb.CheckTarget(resident_id_number=number, insurance_year=y), today, "t")[2] for y in (2026, 2027, 2025)
    ]
    assert answers == [today, dt.date(2027, 1, 1), None]
