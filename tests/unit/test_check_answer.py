"""R15: the enrollment check's answer for a year, and what each purpose may see."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.enrollment.domain.check import CheckPurpose, CheckStatus, answer, for_purpose

N = "340802198001011234"


def doc(*enrollments: dict[str, Any], external: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"enrollments": list(enrollments), "external": external or []}


def enrollment(
    state: str,
    years: list[dict[str, Any]] | None = None,
    *,
    since: int = 2023,
    stop_year: int | None = None,
    region: str = "340800",
) -> dict[str, Any]:
    return {
        "region": region,
        "region_name": "安庆市",
        "category": "MINOR",
        "state": state,
        "since": since,
        "stop_year": stop_year,
        "years": years or [],
    }


def year(y: int, status: str, start: str | None = None) -> dict[str, Any]:
    return {"year": y, "status": status, "from": start or f"{y}-01-01", "to": f"{y}-12-31"}


def test_nobody_known_is_not_enrolled() -> None:
    result = answer(N, 2024, None)
    assert result.status is CheckStatus.NOT_ENROLLED and not result.enrolled


def test_a_paid_year_is_covered_with_its_period() -> None:
    result = answer(
        N, 2023, doc(enrollment("ACTIVE", [year(2023, "COVERED", "2023-11-15"), year(2024, "AWAITING_PAYMENT")]))
    )
    assert result.status is CheckStatus.COVERED and result.enrolled
    assert result.covered_periods == ((dt.date(2023, 11, 15), dt.date(2023, 12, 31)),)
    assert (
        answer(N, 2024, doc(enrollment("ACTIVE", [year(2024, "AWAITING_PAYMENT")]))).status
        is CheckStatus.REGISTERED_UNPAID
    )


def test_coverage_survives_a_stop() -> None:
    stopped = enrollment("STOPPED", [year(2024, "COVERED")], since=2023, stop_year=2024)
    assert answer(N, 2024, doc(stopped)).status is CheckStatus.COVERED
    assert answer(N, 2025, doc(stopped)).status is CheckStatus.NOT_ENROLLED


def test_pending_review_and_aged_out_are_reported() -> None:
    assert answer(N, 2024, doc(enrollment("PENDING_REVIEW"))).status is CheckStatus.PENDING_REVIEW
    assert answer(N, 2024, doc(enrollment("AGED_OUT", stop_year=2024))).status is CheckStatus.AGED_OUT


def test_years_before_the_enrollment_are_not_enrolled() -> None:
    assert answer(N, 2021, doc(enrollment("ACTIVE", since=2023))).status is CheckStatus.NOT_ENROLLED


def test_an_external_employee_enrollment_is_enrolled_elsewhere() -> None:
    result = answer(N, 2024, doc(external=[{"region": "320400", "region_name": "常州市", "scheme": "EMPLOYEE"}]))
    assert result.status is CheckStatus.ENROLLED_ELSEWHERE and result.enrolled
    assert (result.region_name, result.scheme) == ("常州市", "EMPLOYEE")


def test_rejected_registrations_do_not_count() -> None:
    assert answer(N, 2024, doc(enrollment("REJECTED"))).status is CheckStatus.NOT_ENROLLED


def test_each_purpose_sees_only_what_it_needs() -> None:
    full = answer(N, 2023, doc(enrollment("ACTIVE", [year(2023, "COVERED")])))
    hospital = for_purpose(full, CheckPurpose.HOSPITAL_SETTLEMENT)
    assert hospital.covered_periods and not hospital.category
    tax = for_purpose(full, CheckPurpose.TAX_COLLECTION)
    assert tax.category == "MINOR" and not tax.covered_periods
    other_region = for_purpose(full, CheckPurpose.CROSS_REGION_REGISTRATION)
    assert other_region.region_code and not other_region.category and not other_region.covered_periods
    assert for_purpose(full, CheckPurpose.INSURANCE_ADMINISTRATION) == full
