"""Demo regions and policies (R2), loaded by `make run` (ops/setup.py). Loading is idempotent: an
unchanged policy keeps its version, a changed one becomes a new version.

Two kinds of policy:
- the seeds' published years, as published (demo_data=False): Anqing's 2023 and 2024 (seed 003) and
  Yili's 2021 (seed 002), on their own dates;
- the invented regions' years (demo_data=True: Changzhou, Xuancheng, Xiamen), placed around the clock's
  today, so that the README's flow works on whatever day it is run: the year on sale today (or the next
  to go on sale), the year before it and the year after it.

A placed year's policy depends on the region and the year only, never on the day it is loaded: loading
again on another day adds the years that came round and leaves every stored year's version as it was.

Each invented region has a shape: its standard, its review mode and the window that sells a benefit
year. The windows are the seeds' dates: collection runs from 1 September to 31 December of the year
before (seeds 000-003), and Xiamen registers from 1 January to 31 May inside the benefit year (seed 004).
From 2025 a year is also sold outside its window, with a waiting period (R36, R37), until the last day a
fixed wait still ends inside it (30 September): so the README's region sells a year on every day, the
year in progress from January to September and the next one from September on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.evidence_rules import DEFAULT_REQUIRED
from services.registration.domain.model import Category, EvidenceKind, Region, RegionPolicy, ReviewMode, School

D = dt.date
AUTO, MANUAL = ReviewMode.AUTOMATIC, ReviewMode.MANUAL
Window = Callable[[int], DateRange]

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


# R45, the documents the seeds' pages ask for, per region (a category not listed takes the default):
_H, _PERMIT = EvidenceKind.HOUSEHOLD_REGISTER, EvidenceKind.RESIDENCE_PERMIT
EVIDENCE: dict[str, dict[Category, tuple[frozenset[EvidenceKind], ...]]] = {
    # Anqing (seed 003): 非本市户籍但在我市常住人口,可依据居住证、房产证、营业执照、劳动合同或租房协议等认定.
    "340800": {
        Category.RESIDENCE_PERMIT_HOLDER: (
            frozenset(
                {
                    _PERMIT,
                    EvidenceKind.PROPERTY_CERTIFICATE,
                    EvidenceKind.BUSINESS_LICENCE,
                    EvidenceKind.LABOUR_CONTRACT,
                    EvidenceKind.RENTAL_AGREEMENT,
                }
            ),
        )
    },
    # Xuancheng (seed 001): 上传真实清晰的居民户口簿或居住证照片 — for every category that shows one.
    "341800": {
        category: tuple(frozenset({_H, _PERMIT}) if group == frozenset({_H}) else group for group in groups)
        for category, groups in DEFAULT_REQUIRED.items()
        if frozenset({_H}) in groups
    },
    # Changzhou (seed 000): ④“非从业居民”:本人居民身份证、户口簿、经年度审验本人的《就业登记证》.
    "320400": {Category.NON_EMPLOYED: (frozenset({_H}), frozenset({EvidenceKind.EMPLOYMENT_REGISTRATION_CARD}))},
}


# R49, Changzhou (seed 000): 1.…个人缴费主要通过省社保卡扣缴… 2.11月1日起…也可通过银行柜台、微信、支付宝、POS机刷卡…
# 等渠道缴费: in its window, the social security card (and agreement deduction) from the start, the other
# channels from 1 November.
LATE_CHANNELS = {"320400": ("ALIPAY", "BANK_APP", "BANK_COUNTER", "POS", "WECHAT")}


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
        evidence=EVIDENCE.get(region),
    )


SEED_POLICIES = [
    # Anqing (seed 003): 2023 cost 350; 2024 sold 1 Sep - 31 Dec 2023 at 380 + 640 fiscal subsidy.
    _year("340800", 2023, 35000, (D(2022, 9, 1), D(2022, 12, 31)), AUTO, demo=False),
    _year("340800", 2024, 38000, (D(2023, 9, 1), D(2023, 12, 31)), AUTO, demo=False, fiscal=64000),
    # Yili (seed 002): 2021 sold 1 Sep - 31 Dec 2020 at 290.
    _year("654000", 2021, 29000, (D(2020, 9, 1), D(2020, 12, 31)), AUTO, demo=False),
]


def from_september_before(year: int) -> DateRange:
    """1 September to 31 December of the year before (seeds 000, 001, 003)."""
    return DateRange(D(year - 1, 9, 1), D(year - 1, 12, 31))


def january_to_may(year: int) -> DateRange:
    """Xiamen (seed 004): registration inside the benefit year, to 31 May."""
    return DateRange(D(year, 1, 1), D(year, 5, 31))


@dataclass(frozen=True)
class Shape:
    """An invented region's terms for any benefit year."""

    region_code: str
    standard_fen: int
    review_mode: ReviewMode
    window: Window

    def policy(self, year: int) -> RegionPolicy:
        window = self.window(year)
        placed = _year(
            self.region_code, year, self.standard_fen, (window.start, window.end), self.review_mode, demo=True
        )
        late = LATE_CHANNELS.get(self.region_code, ())
        return replace(placed, channel_openings={c: D(year - 1, 11, 1) for c in late}) if late else placed

    def year_on_sale(self, today: D) -> int:
        """The benefit year whose window is open today, or else the next to open."""
        year = today.year - 1
        while self.window(year).end < today:
            year += 1
        return year


SHAPES = [
    # Changzhou (seed 000), automatic review: the README's region. Figures invented.
    Shape("320400", 42000, AUTO, from_september_before),
    # Xuancheng (seed 001), manual review (经办审核). Figures invented.
    Shape("341800", 38000, MANUAL, from_september_before),
    # Xiamen (seed 004). Figures invented.
    Shape("350200", 40000, AUTO, january_to_may),
]


def policies(today: D) -> list[RegionPolicy]:
    """The seeds' policies and the invented regions' years around `today` (CST)."""
    placed = [
        shape.policy(year)
        for shape in SHAPES
        for year in range(shape.year_on_sale(today) - 1, shape.year_on_sale(today) + 2)
    ]
    return [*SEED_POLICIES, *placed]
