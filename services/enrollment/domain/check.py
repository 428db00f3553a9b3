"""The enrollment check answer (R15): status of a person for an insurance year, read from the person's
check document, and cut down to what the caller's purpose needs."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace
from typing import Any

from services.enrollment.domain.check_document import CheckDocument, EnrollmentEntry, EntryState, EntryYearStatus


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
    WAITING = "WAITING"  # paid, not covered yet on the day asked (R37, R40): covered from coverage_start
    STOPPED = "STOPPED"
    AGED_OUT = "AGED_OUT"
    ENROLLED_ELSEWHERE = "ENROLLED_ELSEWHERE"


ENROLLED = frozenset(
    {
        CheckStatus.PENDING_REVIEW,
        CheckStatus.REGISTERED_UNPAID,
        CheckStatus.COVERED,
        CheckStatus.WAITING,
        CheckStatus.ENROLLED_ELSEWHERE,
    }
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
    ended_on: dt.date | None = None  # STOPPED / AGED_OUT: the stop date or the 18th birthday
    end_reason: str = ""
    on_date: dt.date | None = None  # the day answered for (R40); None: the year as a whole
    coverage_start: dt.date | None = None  # WAITING: the first covered day
    continuous_years: int = 0  # R39: unbroken enrolled years before the year
    serious_illness_cap_fen: int = 0  # R39: the year's raised cap (0: not known)

    @property
    def enrolled(self) -> bool:
        return self.status in ENROLLED


_ENDED = {EntryState.STOPPED: CheckStatus.STOPPED, EntryState.AGED_OUT: CheckStatus.AGED_OUT}
COVERED = EntryYearStatus.COVERED


def answer(number: str, year: int, doc: CheckDocument | None, on_date: dt.date | None = None) -> CheckAnswer:
    """A person's status for `year`, or for the day `on_date` in it (R40), the first of these that
    applies (R15):

    1. covered, if any enrollment paid the year; for a day inside its wait, WAITING with the day
       coverage starts (R37);
    2. the live (pending or active) enrollment, when it concerns the year: it wins over ended ones, so
       a person who stopped in one region and registered in another is answered for the new one;
    3. an ended enrollment during its life (registered by the year, ended in or after it);
    4. an active enrollment held elsewhere (employee insurance, another region);
    5. the most recent ended enrollment for the years after it ended: STOPPED / AGED_OUT with the date
       and reason, so another region can tell why, not NOT_ENROLLED.

    Each answer carries the year's incentive (R39) where the document has it.
    """
    if doc is None:
        return CheckAnswer(number, year, CheckStatus.NOT_ENROLLED, on_date=on_date)
    incentive = next((i for i in doc.incentive if i.year == year), None)
    asked = _Asked(
        number,
        year,
        on_date,
        incentive.continuous_years if incentive else 0,
        incentive.cap_fen if incentive else 0,
    )
    found = _covered(asked, doc) or _live(asked, doc) or _ended(asked, doc, during=True)
    if found is None and doc.external:
        held = doc.external[0]
        found = asked.answer(
            CheckStatus.ENROLLED_ELSEWHERE,
            region_code=held.region_code,
            region_name=held.region_name,
            scheme=held.scheme,
        )
    found = found or _ended(asked, doc, during=False)
    return found or asked.answer(CheckStatus.NOT_ENROLLED)


class _Asked:
    """What every answer to one target carries: whom, which year and day, and the year's incentive. A
    plain slotted class: one is made per ID checked, on the hot path."""

    __slots__ = ("cap_fen", "continuous_years", "number", "on_date", "year")

    def __init__(self, number: str, year: int, on_date: dt.date | None, continuous_years: int, cap_fen: int) -> None:
        self.number, self.year, self.on_date = number, year, on_date
        self.continuous_years, self.cap_fen = continuous_years, cap_fen

    def answer(self, status: CheckStatus, **found: Any) -> CheckAnswer:
        return CheckAnswer(
            self.number,
            self.year,
            status,
            on_date=self.on_date,
            continuous_years=self.continuous_years,
            serious_illness_cap_fen=self.cap_fen,
            **found,
        )


def _covered(asked: _Asked, doc: CheckDocument) -> CheckAnswer | None:
    paid = [(e, y) for e in doc.enrollments for y in e.years if y.year == asked.year and y.status is COVERED]
    if not paid:
        return None
    periods = tuple(sorted((y.start, y.end) for _, y in paid))
    day = asked.on_date
    if day is not None and not any(start <= day <= end for start, end in periods):
        # Paid, and covered from a later day: the end of a wait, or the payment day of someone who paid
        # outside the window and waits for nothing (R37). Either way not covered on `day` (R40).
        upcoming = [y.start for _, y in paid if y.start > day]
        if upcoming:
            return _resident(asked, CheckStatus.WAITING, paid[0][0], periods, coverage_start=min(upcoming))
    return _resident(asked, CheckStatus.COVERED, paid[0][0], periods)


def _live(asked: _Asked, doc: CheckDocument) -> CheckAnswer | None:
    for entry in doc.enrollments:
        if entry.state is EntryState.ACTIVE and (entry.since <= asked.year or _has_year(entry, asked.year)):
            return _resident(asked, CheckStatus.REGISTERED_UNPAID, entry)
        if entry.state is EntryState.PENDING_REVIEW and entry.since <= asked.year:
            return _resident(asked, CheckStatus.PENDING_REVIEW, entry)
    return None


def _ended(asked: _Asked, doc: CheckDocument, *, during: bool) -> CheckAnswer | None:
    """An ended enrollment that concerns the year: during its life, or (newest first) after its end."""
    year = asked.year
    for entry in doc.enrollments:
        if entry.state not in _ENDED:
            continue
        last = entry.stop_year if entry.stop_year is not None else entry.since
        concerned = (_has_year(entry, year) or entry.since <= year <= last) if during else entry.since <= year
        if concerned:
            return _resident(asked, _ENDED[entry.state], entry)
    return None


def _has_year(entry: EnrollmentEntry, year: int) -> bool:
    return any(y.year == year for y in entry.years)


def _resident(
    asked: _Asked,
    status: CheckStatus,
    entry: EnrollmentEntry,
    periods: tuple[tuple[dt.date, dt.date], ...] = (),
    coverage_start: dt.date | None = None,
) -> CheckAnswer:
    ended = status in (CheckStatus.STOPPED, CheckStatus.AGED_OUT)
    return asked.answer(
        status,
        region_code=entry.region_code,
        region_name=entry.region_name,
        scheme="RESIDENT",
        category=entry.category,
        covered_periods=periods,
        ended_on=entry.ended_on if ended else None,
        end_reason=(entry.end_reason or "") if ended else "",
        coverage_start=coverage_start,
    )


@dataclass(frozen=True)
class Visibility:
    """Which optional parts of an answer a purpose may see."""

    category: bool
    covered_periods: bool
    end_reason: bool
    incentive: bool = False


# Only what the purpose needs: a hospital learns coverage and when it ended, not the (possibly
# sensitive) category or why it ended; the tax side learns the category it subsidises by and why an
# enrollment ended, not the periods; another region learns where, under which scheme and why it ended
# (it must know whether the person moved away), neither category nor periods. R40: a hospital settling
# a bill sees the continuous years and the raised cap it pays up to; another region sees the continuous
# years, as the incentive and the wait follow the person (R37, R39); the tax side sees neither.
VISIBILITY = {
    CheckPurpose.HOSPITAL_SETTLEMENT: Visibility(
        category=False, covered_periods=True, end_reason=False, incentive=True
    ),
    CheckPurpose.TAX_COLLECTION: Visibility(category=True, covered_periods=False, end_reason=True),
    CheckPurpose.CROSS_REGION_REGISTRATION: Visibility(
        category=False, covered_periods=False, end_reason=True, incentive=True
    ),
    CheckPurpose.INSURANCE_ADMINISTRATION: Visibility(
        category=True, covered_periods=True, end_reason=True, incentive=True
    ),
}


def for_purpose(result: CheckAnswer, purpose: CheckPurpose) -> CheckAnswer:
    """The answer with what the purpose may not see left empty: the one masking rule (R15)."""
    visible = VISIBILITY[purpose]
    if visible.category and visible.covered_periods and visible.end_reason and visible.incentive:
        return result
    return replace(
        result,
        category=result.category if visible.category else "",
        covered_periods=result.covered_periods if visible.covered_periods else (),
        end_reason=result.end_reason if visible.end_reason else "",
        continuous_years=result.continuous_years if visible.incentive else 0,
        serious_illness_cap_fen=result.serious_illness_cap_fen if visible.incentive else 0,
    )
