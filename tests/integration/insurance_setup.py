"""Regions selling benefit year 2027 (window 1 Sep - 31 Dec 2026, 400 CNY), for the insurance-side
integration tests."""

from __future__ import annotations

import datetime as dt

from services.common.clock import Clock
from services.common.db import Pool
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.model import Region, RegionPolicy, ReviewMode
from services.registration.handlers import administration
from services.registration.unit_of_work import RegistrationUnitOfWork

D = dt.date


async def regions_selling_2027(pool: Pool, clock: Clock, regions: dict[Region, ReviewMode]) -> None:
    """Creates each region with its 2027 policy under the given review mode."""
    async with RegistrationUnitOfWork(pool) as uow:
        for region, mode in regions.items():
            await administration.create_region(region, uow, clock)
            await administration.set_region_policy(
                RegionPolicy(
                    region_code=region.code,
                    insurance_year=2027,
                    individual_standard_fen=Fen(40000),
                    fiscal_subsidy_fen=Fen(0),
                    newborn_standard_fen=Fen(0),
                    category_subsidies={},
                    collection_window=DateRange(D(2026, 9, 1), D(2026, 12, 31)),
                    benefit_period=DateRange(D(2027, 1, 1), D(2027, 12, 31)),
                    review_mode=mode,
                ),
                uow,
                clock,
            )
        await uow.commit()
