"""Issue 17 item 5: the demo's policies are placed around the clock's today, so the README's flow works
on any day, and a year's policy never depends on the day it is loaded."""

from __future__ import annotations

import datetime as dt

from ops import demo_data
from services.registration.domain.policy import on_sale, validate_policy

D = dt.date
README_REGION = "320400"


def _days(start: D, end: D) -> list[D]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def test_on_every_day_of_four_years_the_readme_region_sells_the_year_in_progress_or_the_next() -> None:
    """R36: the year in progress outside its window to 30 September (a fixed wait of 3 months still ends
    inside it), the next one in its window from 1 September to 31 December."""
    for day in _days(D(2026, 1, 1), D(2029, 12, 31)):  # 2028 is a leap year
        selling = on_sale([p for p in demo_data.policies(day) if p.region_code == README_REGION], day)
        in_progress = [day.year] if day <= D(day.year, 9, 30) else []
        following = [day.year + 1] if day.month >= 9 else []
        assert [p.insurance_year for p in selling] == in_progress + following, day


def test_a_years_policy_is_the_same_whichever_day_it_is_loaded() -> None:
    seen: dict[tuple[str, int], object] = {}
    for day in (D(2026, 12, 3), D(2027, 1, 1), D(2027, 8, 31), D(2027, 9, 1), D(2028, 2, 29), D(2031, 6, 1)):
        for policy in demo_data.policies(day):
            key = (policy.region_code, policy.insurance_year)
            assert seen.setdefault(key, policy) == policy, (day, key)


def test_the_years_around_today_are_loaded_and_every_policy_is_valid() -> None:
    for day in (D(2027, 1, 1), D(2027, 8, 31), D(2028, 2, 29), D(2027, 12, 31)):
        loaded = demo_data.policies(day)
        for policy in loaded:
            assert validate_policy(policy).insurance_year == policy.insurance_year
        sold = demo_data.SHAPES[0].year_on_sale(day)
        changzhou = sorted(p.insurance_year for p in loaded if p.region_code == README_REGION)
        assert changzhou == [sold - 1, sold, sold + 1], day
        # Xiamen sells inside its benefit year, to 31 May (seed 004): after May the next year is loaded.
        xiamen = sorted(p.insurance_year for p in loaded if p.region_code == "350200")
        expected = day.year if day <= D(day.year, 5, 31) else day.year + 1
        assert xiamen == [expected - 1, expected, expected + 1], day


def test_the_seeds_published_years_stay_as_published_on_any_day() -> None:
    for day in (D(2023, 11, 20), D(2027, 1, 1)):
        published = {(p.region_code, p.insurance_year): p for p in demo_data.policies(day) if not p.demo_data}
        assert sorted(published) == [("340800", 2023), ("340800", 2024), ("654000", 2021)]
        anqing = published[("340800", 2024)]
        assert (anqing.individual_standard_fen, anqing.fiscal_subsidy_fen) == (38000, 64000)
        assert (anqing.collection_window.start, anqing.collection_window.end) == (D(2023, 9, 1), D(2023, 12, 31))
