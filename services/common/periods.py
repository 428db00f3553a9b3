"""Inclusive date ranges in China Standard Time (R4): windows, benefit periods, payable periods."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")


def cst_date(instant: dt.datetime) -> dt.date:
    """The calendar day of an instant in China Standard Time, whatever zone it was read in (R4)."""
    return instant.astimezone(CST).date()


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end
