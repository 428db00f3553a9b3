"""Small factories of valid test data."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Mapping

from services.common.money import Fen
from services.common.periods import DateRange
from services.common.resident_id import check_character
from services.registration.domain.model import Category, RegionPolicy, ReviewMode

_sequence = itertools.count(random.randrange(0, 500))


def resident_id(birth: dt.date = dt.date(1980, 1, 1), region: str = "340802", seq: int | None = None) -> str:
    """A valid 18-character ID number; each call gives a new sequence unless one is given."""
    number = f"{region}{birth:%Y%m%d}{(next(_sequence) if seq is None else seq) % 1000:03d}"
    return number + check_character(number)


def unique_resident_id(birth: dt.date = dt.date(1980, 1, 1)) -> str:
    """A valid ID unlikely to collide with any other in a test run (random region prefix and sequence)."""
    region = f"{random.randrange(110000, 659999):06d}"
    return resident_id(birth, region, random.randrange(1000))


def region_policy(
    year: int,
    standard_fen: int = 38000,
    window: tuple[dt.date, dt.date] | None = None,
    *,
    region: str = "340800",
    newborn_fen: int | None = None,
    subsidies: Mapping[Category, int] | None = None,
    manual: bool = False,
    version: int = 1,
) -> RegionPolicy:
    """A region's policy for benefit year `year` (R2), the one builder of every test (the end-to-end
    tests send it as a proto, tests/e2e/requests.py `policy`): sold from 1 September to 31 December of
    the year before unless `window` says otherwise, covering the calendar year; newborns pay the
    individual standard unless `newborn_fen` says otherwise (0: the policy names none)."""
    return RegionPolicy(
        region_code=region,
        insurance_year=year,
        individual_standard_fen=Fen(standard_fen),
        fiscal_subsidy_fen=Fen(0),
        newborn_standard_fen=Fen(standard_fen if newborn_fen is None else newborn_fen),
        category_subsidies={category: Fen(fen) for category, fen in (subsidies or {}).items()},
        collection_window=DateRange(*(window or (dt.date(year - 1, 9, 1), dt.date(year - 1, 12, 31)))),
        benefit_period=DateRange(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        review_mode=ReviewMode.MANUAL if manual else ReviewMode.AUTOMATIC,
        version=version,
    )
