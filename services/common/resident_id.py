"""Resident ID numbers (居民身份证号码, GB 11643-1999), R1.

18 characters: region code (1-6), birth date YYYYMMDD (7-14), sequence (15-17, odd for men), and a
check character computed with ISO 7064 MOD 11-2 (0-9 or X). Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from dataclasses import dataclass

from services.common.errors import InvalidArgument

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH = dt.date(1890, 1, 1)


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    if len(first17) != 17:
        raise ValueError(f"need 17 digits, got {len(first17)}")
    return _CHECK_CHARS[sum(map(operator.mul, map(int, first17), _WEIGHTS)) % 11]


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: dt.date

    @property
    def region_prefix(self) -> str:
        return self.number[:6]

    @property
    def masked(self) -> str:
        return mask(self.number)

    def age_on(self, day: dt.date) -> int:
        """Full years of age on `day`."""
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


def mask(number: str) -> str:
    """340102********1234: keeps the region prefix and the last four characters."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


SHAPE_RULE = ("must be 17 digits followed by a digit or X", "应为17位数字加1位数字或X")


def canonical(raw: str) -> str:
    """An ID number as it is stored and compared: the spaces around it dropped, x upper-cased. Applied
    at the edge to every ID number field (R1, R34). A full-width digit is not read as a digit: R41
    names it a bad value, answered (for a batch, per element) with what to type instead."""
    return raw.strip().upper()


def parse_resident_id(raw: str, *, today: dt.date, field: str = "resident_id_number") -> ResidentId:
    """Validates an ID number; raises INVALID_ARGUMENT naming the field and why (R1)."""
    number = canonical(raw)
    if not _SHAPE.fullmatch(number):
        raise _invalid(field, number, *SHAPE_RULE)
    try:
        birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _invalid(field, number, "contains an impossible birth date", "出生日期不存在") from None
    if birth > today:
        raise _invalid(field, number, "has a birth date in the future", "出生日期晚于今天")
    if birth < _EARLIEST_BIRTH:
        raise _invalid(field, number, "has a birth date before 1890", "出生日期早于1890年")
    if check_character(number[:17]) != number[17]:
        raise _invalid(field, number, "has a wrong check character", "校验码错误")
    return ResidentId(number=number, birth_date=birth)


INVALID_RESIDENT_ID = "INVALID_RESIDENT_ID"


def _invalid(field: str, number: str, why: str, why_zh: str) -> InvalidArgument:
    return InvalidArgument(
        INVALID_RESIDENT_ID,
        f"{field} {mask(number)} {why}",
        f"身份证号码{mask(number)}无效:{why_zh}",
        field=field,
        metadata={"field": field, "resident_id_masked": mask(number), "why": why},
    )
