"""Payment records (已缴费查询), R25, and linked minors, R26."""

from __future__ import annotations

import datetime as dt

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
