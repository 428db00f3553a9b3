"""Collection results for publication (缴费结果查询和公示, R29)."""

from __future__ import annotations

from services.collection.domain.results import CollectionResults, checked_query, daily_series, no_results, total_of
from services.collection.ports import CollectionUow
from services.common.clock import Clock


async def collection_results(
    region_code: str, insurance_year: int, uow: CollectionUow, clock: Clock
) -> CollectionResults:
    region, year = checked_query(region_code, insurance_year)
    window = await uow.results.window(region, year)
    if window is None:
        raise no_results(region, year)
    by_category = await uow.results.by_category(region, year)
    enrolled, settled = await uow.results.persons(region, year)
    return CollectionResults(
        region_code=region,
        insurance_year=year,
        window=window,
        total=total_of(by_category),
        enrolled_count=enrolled,
        paid_person_count=settled,
        by_category=tuple(by_category),
        by_channel=tuple(await uow.results.by_channel(region, year)),
        daily=daily_series(
            window,
            clock.now().date(),
            await uow.results.owed_by_day(region, year),
            await uow.results.paid_by_day(region, year),
        ),
    )
