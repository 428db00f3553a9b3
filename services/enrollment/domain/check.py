"""The enrollment check answer (R15): status of a person for an insurance year, read from the person's
check document, and cut down to what the caller's purpose needs."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, replace

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
    WAITING = "WAITING"  # paid, in the waiting period (R37, R40): covered from coverage_start
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
    """
    if doc is None:
        return CheckAnswer(number, year, CheckStatus.NOT_ENROLLED, on_date=on_date)
    found = _with_incentive(_answer(number, year, doc, on_date), doc)
    return replace(found, on_date=on_date)


def _answer(number: str, year: int, doc: CheckDocument, on_date: dt.date | None) -> CheckAnswer:
    found = _covered(number, year, doc, on_date) or _live(number, year, doc) or _ended(number, year, doc, during=True)
    if found is None and doc.external:
        held = doc.external[0]
        found = CheckAnswer(
            number,
            year,
            CheckStatus.ENROLLED_ELSEWHERE,
            region_code=held.region_code,
            region_name=held.region_name,
            scheme=held.scheme,
        )
    found = found or _ended(number, year, doc, during=False)
    return found or CheckAnswer(number, year, CheckStatus.NOT_ENROLLED)


def _covered(number: str, year: int, doc: CheckDocument, on_date: dt.date | None) -> CheckAnswer | None:
    paid = [(e, y) for e in doc.enrollments for y in e.years if y.year == year and y.status is COVERED]
    if not paid:
        return None
    periods = tuple(sorted((y.start, y.end) for _, y in paid))
    found = _resident(number, year, CheckStatus.COVERED, paid[0][0], periods)
    waiting = [y for _, y in paid if y.wait_months > 0]
    if on_date is not None and waiting and not any(start <= on_date <= end for start, end in periods):
        upcoming = [y.start for y in waiting if y.start > on_date]
        if upcoming:
            return replace(found, status=CheckStatus.WAITING, coverage_start=min(upcoming))
    return found


def _with_incentive(found: CheckAnswer, doc: CheckDocument) -> CheckAnswer:
    """R39: the continuous years and the raised serious-illness cap of the year, where known."""
    entry = next((i for i in doc.incentive if i.year == found.insurance_year), None)
    if entry is None:
        return found
    return replace(found, continuous_years=entry.continuous_years, serious_illness_cap_fen=entry.cap_fen)


def _live(number: str, year: int, doc: CheckDocument) -> CheckAnswer | None:
    for entry in doc.enrollments:
        if entry.state is EntryState.ACTIVE and (entry.since <= year or _has_year(entry, year)):
            return _resident(number, year, CheckStatus.REGISTERED_UNPAID, entry)
        if entry.state is EntryState.PENDING_REVIEW and entry.since <= year:
            return _resident(number, year, CheckStatus.PENDING_REVIEW, entry)
    return None


def _ended(number: str, year: int, doc: CheckDocument, *, during: bool) -> CheckAnswer | None:
    """An ended enrollment that concerns the year: during its life, or (newest first) after its end."""
    for entry in doc.enrollments:
        if entry.state not in _ENDED:
            continue
        last = entry.stop_year if entry.stop_year is not None else entry.since
        concerned = (_has_year(entry, year) or entry.since <= year <= last) if during else entry.since <= year
        if concerned:
            return _resident(number, year, _ENDED[entry.state], entry)
    return None


def _has_year(entry: EnrollmentEntry, year: int) -> bool:
    return any(y.year == year for y in entry.years)


def _resident(
    number: str,
    year: int,
    status: CheckStatus,
    entry: EnrollmentEntry,
    periods: tuple[tuple[dt.date, dt.date], ...] = (),
) -> CheckAnswer:
    ended = status in (CheckStatus.STOPPED, CheckStatus.AGED_OUT)
    return CheckAnswer(
        number,
        year,
        status,
        region_code=entry.region_code,
        region_name=entry.region_name,
        scheme="RESIDENT",
        category=entry.category,
        covered_periods=periods,
        ended_on=entry.ended_on if ended else None,
        end_reason=(entry.end_reason or "") if ended else "",
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
