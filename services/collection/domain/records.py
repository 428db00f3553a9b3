"""Payment records (已缴费查询), R25 and R47, and linked minors, R26."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.resident_id import ResidentId

MAX_YEARS = 2
MAX_LINKED_MINORS = 4
MINOR_AGE_LIMIT = 16


def add_years(day: dt.date, years: int) -> dt.date:
    """The same calendar date `years` later (29 February → 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def record_period(start: dt.date | None, end: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The payment dates to list: the last two years by default; a chosen period may span at most two
    years (its end at most the same calendar date two years after its start)."""
    if start is None and end is None:
        return add_years(today, -MAX_YEARS), today
    if start is None or end is None:
        raise InvalidArgument(
            "INVALID_PERIOD", "give both start and end of the period, or neither", "请同时选择起止日期", field="period"
        )
    if end < start:
        raise InvalidArgument(
            "INVALID_PERIOD", "the period ends before it starts", "结束日期早于开始日期", field="period"
        )
    if end > add_years(start, MAX_YEARS):
        raise InvalidArgument(
            "PERIOD_TOO_LONG",
            f"at most {MAX_YEARS} years at once: {start} to {add_years(start, MAX_YEARS)} at the latest",
            "查询范围不能超过两年",
            field="period",
            metadata={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "latest_end": add_years(start, MAX_YEARS).isoformat(),
            },
        )
    return start, end


@dataclass(frozen=True)
class FeePeriod:
    """费款所属期: the benefit years the paid items belong to, inclusive (R47)."""

    start_year: int
    end_year: int


@dataclass(frozen=True)
class PaymentDates:
    """The payment dates (CST) to list, inclusive: the older way of choosing records (R25)."""

    start: dt.date
    end: dt.date


RecordSelection = FeePeriod | PaymentDates


def fee_period(start_year: int | None, end_year: int | None, today: dt.date) -> FeePeriod:
    """The benefit years to list (R47, Yili: "修改费款所属期进行查询。查询范围不能超过两年"). By default the
    year in progress and the next: a payment made now, in a window, is for the next year, and the one
    made in last year's window is for this one. A chosen period spans at most two benefit years."""
    if start_year is None and end_year is None:
        return FeePeriod(today.year, today.year + 1)
    if not start_year or not end_year:
        raise InvalidArgument(
            "INVALID_PERIOD",
            "give both the first and the last benefit year of the fee period",
            "请同时选择费款所属期起止年度",
            field="fee_period.start_year" if not start_year else "fee_period.end_year",
        )
    if end_year < start_year:
        raise InvalidArgument(
            "INVALID_PERIOD",
            f"the fee period ends ({end_year}) before it starts ({start_year})",
            "费款所属期止早于费款所属期起",
            field="fee_period.end_year",
        )
    latest = start_year + MAX_YEARS - 1
    if end_year > latest:
        raise InvalidArgument(
            "PERIOD_TOO_LONG",
            f"at most {MAX_YEARS} benefit years at once: {start_year} to {latest} at the latest",
            "查询范围不能超过两年",
            field="fee_period.end_year",
            metadata={"start_year": start_year, "end_year": end_year, "latest_end_year": latest},
        )
    return FeePeriod(start_year, end_year)


def record_selection(
    fee_years: tuple[int, int] | None, paid_dates: tuple[dt.date, dt.date] | None, today: dt.date
) -> RecordSelection:
    """Records are chosen by fee period (R47); a caller that still gives payment dates gets those (R25).
    Both at once would be two periods to bound; the caller is asked to choose."""
    if fee_years is not None and paid_dates is not None:
        raise InvalidArgument(
            "PERIOD_AMBIGUOUS",
            "choose records by fee period or by payment dates, not both",
            "请选择按费款所属期或按缴费日期查询,不能同时选择",
            field="fee_period",
        )
    if paid_dates is not None:
        return PaymentDates(*record_period(paid_dates[0], paid_dates[1], today))
    return fee_period(fee_years[0] if fee_years else None, fee_years[1] if fee_years else None, today)


def check_linkable_minor(minor: ResidentId, already_linked: int, today: dt.date) -> None:
    """A payer may link at most four minors, each under 16 when linked (R26)."""
    if minor.age_on(today) >= MINOR_AGE_LIMIT:
        raise FailedPrecondition(
            "MINOR_TOO_OLD",
            f"only minors under {MINOR_AGE_LIMIT} can be linked; {minor.masked} is {minor.age_on(today)}",
            f"仅支持查询{MINOR_AGE_LIMIT}周岁以下未成年人的缴费信息",
            metadata={"age": minor.age_on(today), "limit": MINOR_AGE_LIMIT},
        )
    if already_linked >= MAX_LINKED_MINORS:
        raise FailedPrecondition(
            "MINOR_LIMIT_REACHED",
            f"a payer can link at most {MAX_LINKED_MINORS} minors",
            "每个账号只支持查询四位未成年人缴费信息",
            metadata={"limit": MAX_LINKED_MINORS},
        )
