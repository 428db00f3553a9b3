"""Unpaid reminders (未缴费提醒, R29): a round per region and insurance year some days before its
collection window closes, one reminder per person with unpaid items."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from services.common.money import Fen, yuan_text


class ReminderStatus(enum.StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    SKIPPED = "SKIPPED"  # paid between the round's start and its turn: nothing to remind of


@dataclass(frozen=True)
class Window:
    region_code: str
    insurance_year: int
    window_end: dt.date


@dataclass(frozen=True)
class PendingReminder:
    """A reminder whose turn has come, with what the person still owes now."""

    reminder_id: str
    resident_id_number: str
    name: str
    region_code: str
    insurance_year: int
    window_end: dt.date
    unpaid_fen: Fen


def reminder_opens_on(window_end: dt.date, days_before: int) -> dt.date:
    return window_end - dt.timedelta(days=days_before)


def due_rounds(windows: list[Window], today: dt.date, days_before: int) -> list[Window]:
    """The windows whose reminder round is due: from `days_before` days before the close to the close."""
    return [w for w in windows if reminder_opens_on(w.window_end, days_before) <= today <= w.window_end]


def reminder_text(name: str, insurance_year: int, unpaid_fen: Fen, window_end: dt.date) -> str:
    return (
        f"{name}您好:您{insurance_year}年度城乡居民基本医疗保险费{yuan_text(unpaid_fen)}元尚未缴纳,"
        # Spelled out: strftime refuses non-ASCII formats under a C locale.
        f"缴费期将于{window_end.year}年{window_end.month:02d}月{window_end.day:02d}日截止,请及时缴费。"
    )
