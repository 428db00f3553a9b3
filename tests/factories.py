"""Small factories of valid test data."""

from __future__ import annotations

import datetime as dt
import itertools
import random

from services.common.resident_id import check_character

_sequence = itertools.count(random.randrange(0, 500))


def resident_id(birth: dt.date = dt.date(1980, 1, 1), region: str = "340802", seq: int | None = None) -> str:
    """A valid 18-character ID number; each call gives a new sequence unless one is given."""
    number = f"{region}{birth:%Y%m%d}{(next(_sequence) if seq is None else seq) % 1000:03d}"
    return number + check_character(number)


def unique_resident_id(birth: dt.date = dt.date(1980, 1, 1)) -> str:
    """A valid ID unlikely to collide with any other in a test run (random region prefix and sequence)."""
    region = f"{random.randrange(110000, 659999):06d}"
    return resident_id(birth, region, random.randrange(1000))
