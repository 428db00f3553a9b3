"""The enrollment check answer (R15): status of a person for an insurance year, read from the person's
check document, and cut down to what the caller's purpose needs."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace
from typing import Any


class CheckPurpose(enum.StrEnum):
    HOSPITAL_SETTLEMENT = "HOSPITAL_SETTLEMENT"
    TAX_COLLECTION = "TAX_COLLECTION"
    CROSS_REGION_REGISTRATION = "CROSS_REGION_REGISTRATION"
    INSURANCE_ADMINISTRATION = "INSURANCE_ADMINISTRATION"


class CheckStatus(enum.StrEnum):
    NOT_ENROLLED = "NOT_ENROLLED"
    PENDING_REVIEW = "PENDING_REVIEW"
    REGISTERED_UNPAID = "REGISTERED_UNPAID"
    COVERED = "COVERED"
    STOPPED = "STOPPED"
    AGED_OUT = "AGED_OUT"
    ENROLLED_ELSEWHERE = "ENROLLED_ELSEWHERE"


ENROLLED = frozenset(
    {CheckStatus.PENDING_REVIEW, CheckStatus.REGISTERED_UNPAID, CheckStatus.COVERED, CheckStatus.ENROLLED_ELSEWHERE}
)
MAX_BATCH = 1000


@dataclass(frozen=True)
class CheckAnswer:
    resident_id_number: str
    insurance_year: int
    status: CheckStatus
    region_code: str = ""
    region_name: str = ""
    scheme: str = ""
    category: str = ""
    covered_periods: tuple[tuple[dt.date, dt.date], ...] = ()

    @property
    def enrolled(self) -> bool:
        return self.status in ENROLLED


def answer(number: str, year: int, doc: dict[str, Any] | None) -> CheckAnswer:
    """Status for `year`: covered if any enrollment paid it; else the newest enrollment that concerns
    the year (pending, unpaid, stopped, aged out); else an active enrollment held elsewhere."""
    if doc is None:
        return CheckAnswer(number, year, CheckStatus.NOT_ENROLLED)
    enrollments: list[dict[str, Any]] = doc.get("enrollments", [])
    covered = [
        (e, y) for e in enrollments for y in e.get("years", []) if y["year"] == year and y["status"] == "COVERED"
    ]
    if covered:
        enrollment = covered[0][0]
        periods = tuple(sorted((dt.date.fromisoformat(y["from"]), dt.date.fromisoformat(y["to"])) for _, y in covered))
        return _resident(number, year, CheckStatus.COVERED, enrollment, periods)
    for enrollment in enrollments:  # newest first
        status = _status_in_year(enrollment, year)
        if status is not None:
            return _resident(number, year, status, enrollment, ())
    for held in doc.get("external", []):
        return CheckAnswer(
            number,
            year,
            CheckStatus.ENROLLED_ELSEWHERE,
            region_code=held["region"],
            region_name=held["region_name"],
            scheme=held["scheme"],
        )
    return CheckAnswer(number, year, CheckStatus.NOT_ENROLLED)


def _status_in_year(enrollment: dict[str, Any], year: int) -> CheckStatus | None:
    state = enrollment["state"]
    has_year = any(y["year"] == year for y in enrollment.get("years", []))
    since = int(enrollment.get("since") or 0)
    if state == "ACTIVE" and (has_year or year >= since):
        return CheckStatus.REGISTERED_UNPAID
    if state == "PENDING_REVIEW" and year >= since:
        return CheckStatus.PENDING_REVIEW
    if state in ("STOPPED", "AGED_OUT"):
        stop_year = int(enrollment.get("stop_year") or since)
        if has_year or since <= year <= stop_year:
            return CheckStatus.STOPPED if state == "STOPPED" else CheckStatus.AGED_OUT
    return None


def _resident(
    number: str,
    year: int,
    status: CheckStatus,
    enrollment: dict[str, Any],
    periods: tuple[tuple[dt.date, dt.date], ...],
) -> CheckAnswer:
    return CheckAnswer(
        number,
        year,
        status,
        region_code=enrollment["region"],
        region_name=enrollment["region_name"],
        scheme="RESIDENT",
        category=enrollment["category"],
        covered_periods=periods,
    )


@dataclass(frozen=True)
class Visibility:
    """Which optional parts of an answer a purpose may see."""

    category: bool
    covered_periods: bool


# Only what the purpose needs: a hospital learns coverage, not the (possibly sensitive) category;
# the tax side learns the category it subsidises by, not the periods; another region learns where and
# under which scheme, neither category nor periods.
VISIBILITY = {
    CheckPurpose.HOSPITAL_SETTLEMENT: Visibility(category=False, covered_periods=True),
    CheckPurpose.TAX_COLLECTION: Visibility(category=True, covered_periods=False),
    CheckPurpose.CROSS_REGION_REGISTRATION: Visibility(category=False, covered_periods=False),
    CheckPurpose.INSURANCE_ADMINISTRATION: Visibility(category=True, covered_periods=True),
}


def for_purpose(result: CheckAnswer, purpose: CheckPurpose) -> CheckAnswer:
    """The answer with what the purpose may not see left empty."""
    visible = VISIBILITY[purpose]
    return replace(
        result,
        category=result.category if visible.category else "",
        covered_periods=result.covered_periods if visible.covered_periods else (),
    )
