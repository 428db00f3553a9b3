"""Collection results by region and insurance year, for publication (缴费结果公示, R29)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common.errors import InvalidArgument, NotFound
from services.common.money import Fen
from services.common.periods import DateRange

MAX_DAYS = 366


@dataclass(frozen=True)
class Breakdown:
    key: str
    assessed_count: int
    paid_count: int
    subsidised_count: int
    unpaid_count: int
    paid_amount_fen: Fen
    unpaid_amount_fen: Fen


@dataclass(frozen=True)
class Day:
    date: dt.date
    paid_that_day: int
    paid_count: int
    unpaid_count: int
    paid_amount_fen: Fen


@dataclass(frozen=True)
class CollectionResults:
    region_code: str
    insurance_year: int
    window: DateRange
    total: Breakdown
    enrolled_count: int
    paid_person_count: int
    by_category: tuple[Breakdown, ...]
    by_channel: tuple[Breakdown, ...]
    daily: tuple[Day, ...]


def checked_query(region_code: str, insurance_year: int) -> tuple[str, int]:
    region = region_code.strip()
    if not (len(region) == 6 and region.isdigit()):
        raise InvalidArgument(
            "INVALID_REGION_CODE", "region_code must be 6 digits", "统筹区编码应为6位数字", field="region_code"
        )
    if not 2000 <= insurance_year <= 2100:
        raise InvalidArgument(
            "INVALID_YEAR", "insurance_year must be between 2000 and 2100", "参保年度无效", field="insurance_year"
        )
    return region, insurance_year


def no_results(region_code: str, insurance_year: int) -> NotFound:
    return NotFound(
        "NO_COLLECTION_RESULTS",
        f"nothing was assessed in region {region_code} for {insurance_year}",
        f"该统筹区{insurance_year}年度暂无征收数据",
        metadata={"region_code": region_code, "insurance_year": insurance_year},
    )


def total_of(rows: Sequence[Breakdown]) -> Breakdown:
    return Breakdown(
        key="TOTAL",
        assessed_count=sum(r.assessed_count for r in rows),
        paid_count=sum(r.paid_count for r in rows),
        subsidised_count=sum(r.subsidised_count for r in rows),
        unpaid_count=sum(r.unpaid_count for r in rows),
        paid_amount_fen=Fen(sum(r.paid_amount_fen for r in rows)),
        unpaid_amount_fen=Fen(sum(r.unpaid_amount_fen for r in rows)),
    )


def daily_series(
    window: DateRange,
    today: dt.date,
    owed_from: Mapping[dt.date, int],
    paid_on: Mapping[dt.date, tuple[int, int]],
) -> tuple[Day, ...]:
    """Paid and unpaid at the end of each day of the window up to today.

    `owed_from`: items (to be paid by the person, not cancelled) by the day they were assessed;
    `paid_on`: (count, fen) of those items by the CST day their payment was made. What happened before
    the window opened counts on its first day."""
    last = min(window.end, today)
    days: list[Day] = []
    owed = sum(n for d, n in owed_from.items() if d < window.start)
    paid = sum(c for d, (c, _) in paid_on.items() if d < window.start)
    amount = sum(f for d, (_, f) in paid_on.items() if d < window.start)
    day = window.start
    while day <= last and len(days) < MAX_DAYS:
        owed += owed_from.get(day, 0)
        count, fen = paid_on.get(day, (0, 0))
        paid += count
        amount += fen
        days.append(Day(day, count, paid, owed - paid, Fen(amount)))
        day += dt.timedelta(days=1)
    return tuple(days)
