"""Demo regions and policies (R2), loaded by `make run`. Loading is idempotent: an unchanged policy
keeps its version, a changed one becomes a new version.

Anqing and Yili carry the seeds' published figures (demo_data=False). Xiamen, Changzhou and Xuancheng
carry plausible invented figures (demo_data=True), including current years so the demo can be used today.
"""

from __future__ import annotations

import datetime as dt

from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.model import Category, Region, RegionPolicy, ReviewMode, School

D = dt.date
AUTO, MANUAL = ReviewMode.AUTOMATIC, ReviewMode.MANUAL

REGIONS = [
    Region("340800", "安庆市"),
    Region("654000", "伊犁哈萨克自治州"),
    Region("350200", "厦门市"),
    Region("320400", "常州市"),
    Region("341800", "宣城市"),
]

SCHOOLS = [School("CZ-S001", "常州示范高校(演示)", "320400"), School("XC-S001", "宣城示范学校(演示)", "341800")]


def _demo_subsidies(standard: int) -> dict[Category, Fen]:
    return {
        Category.HARDSHIP_EXTREME_POVERTY: Fen(standard),
        Category.HARDSHIP_LOW_INCOME: Fen(standard // 2),
        Category.HARDSHIP_SEVERE_DISABILITY: Fen(standard // 2),
    }


def _year(
    region: str, year: int, standard: int, window: tuple[D, D], mode: ReviewMode, *, demo: bool, fiscal: int = 0
) -> RegionPolicy:
    return RegionPolicy(
        region_code=region,
        insurance_year=year,
        individual_standard_fen=Fen(standard),
        fiscal_subsidy_fen=Fen(fiscal),
        newborn_standard_fen=Fen(0),
        category_subsidies=_demo_subsidies(standard) if demo else {},
        collection_window=DateRange(*window),
        benefit_period=DateRange(D(year, 1, 1), D(year, 12, 31)),
        review_mode=mode,
        demo_data=demo,
    )


POLICIES = [
    # Anqing (seed 003): 2023 cost 350; 2024 sold 1 Sep - 31 Dec 2023 at 380 + 640 fiscal subsidy.
    _year("340800", 2023, 35000, (D(2022, 9, 1), D(2022, 12, 31)), AUTO, demo=False),
    _year("340800", 2024, 38000, (D(2023, 9, 1), D(2023, 12, 31)), AUTO, demo=False, fiscal=64000),
    # Yili (seed 002): 2021 sold 1 Sep - 31 Dec 2020 at 290.
    _year("654000", 2021, 29000, (D(2020, 9, 1), D(2020, 12, 31)), AUTO, demo=False),
    # Xiamen (seed 004): registration inside the benefit year, to 31 May. Figures invented.
    _year("350200", 2020, 28000, (D(2020, 1, 1), D(2020, 5, 31)), AUTO, demo=True),
    _year("350200", 2026, 40000, (D(2026, 1, 1), D(2026, 5, 31)), AUTO, demo=True),
    _year("350200", 2027, 42000, (D(2027, 1, 1), D(2027, 5, 31)), AUTO, demo=True),
    # Changzhou (seed 000), automatic review. Figures invented.
    _year("320400", 2026, 40000, (D(2025, 9, 1), D(2025, 12, 31)), AUTO, demo=True),
    _year("320400", 2027, 42000, (D(2026, 9, 1), D(2026, 12, 31)), AUTO, demo=True),
    # Xuancheng (seed 001), manual review (经办审核). Figures invented.
    _year("341800", 2024, 38000, (D(2023, 9, 1), D(2023, 12, 31)), MANUAL, demo=True),
    _year("341800", 2026, 40000, (D(2025, 9, 1), D(2025, 12, 31)), MANUAL, demo=True),
    _year("341800", 2027, 42000, (D(2026, 9, 1), D(2026, 12, 31)), MANUAL, demo=True),
]
