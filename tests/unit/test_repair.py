"""R38: which missed years may be repaired, at what price (the domain, without I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.common.errors import DomainError
from services.common.money import Fen
from services.common.periods import CST, DateRange
from services.registration.domain.continuity import Continuity
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import Category, Enrollment, EnrollmentState, EnrollmentYear, YearStatus
from services.registration.domain.repair import repair_offers, repairable_years
from tests.unit.test_policy import anqing_2024

D = dt.date
POLICY = replace(
    anqing_2024(),
    insurance_year=2027,
    individual_standard_fen=Fen(40000),
    category_subsidies={Category.HARDSHIP_LOW_INCOME: Fen(20000)},
    collection_window=DateRange(D(2026, 9, 1), D(2026, 12, 31)),
    benefit_period=DateRange(D(2027, 1, 1), D(2027, 12, 31)),
)
YEAR = EnrollmentYear(
    2027,
    YearStatus.AWAITING_PAYMENT,
    POLICY.benefit_period,
    DateRange(D(2026, 9, 1), D(2027, 9, 30)),
    False,
    1,
    Fen(40000),
    Fen(0),
    POLICY.collection_window,
    wait_free_until=D(2026, 12, 31),
)


ADULT = D(1980, 1, 1)


def enrollment(category: Category = Category.NON_EMPLOYED, born: dt.date = ADULT) -> Enrollment:
    now = dt.datetime(2026, 11, 20, tzinfo=CST)
    return Enrollment(
        "e",
        "x",
        "张三",
        "13800138000",
        born,
        "340800",
        None,
        category,
        EnrollmentState.ACTIVE,
        1,
        (),
        now,
        now,
        years=(YEAR,),
    )


def test_the_missed_years_right_before_are_repairable_and_repaired_ones_are_not() -> None:
    assert repairable_years(2027, Continuity(frozenset({2024})), 2025) == [2025, 2026]
    assert repairable_years(2027, Continuity(frozenset({2024}), frozenset({2025})), 2025) == [2026]
    assert repairable_years(2027, Continuity(frozenset({2026})), 2025) == []


def test_each_missed_year_costs_the_standard_of_the_year_paid_for_without_subsidy_unless_the_region_says() -> None:
    hardship = enrollment(Category.HARDSHIP_LOW_INCOME)
    offers = repair_offers(hardship, YEAR, POLICY, Continuity(frozenset()))
    assert [(o.repaired_year, o.standard_fen, o.subsidy_fen, o.payable_until) for o in offers] == [
        (2025, 40000, 0, D(2027, 9, 30)),
        (2026, 40000, 0, D(2027, 9, 30)),
    ]
    subsidised = replace(POLICY, long_term=LongTermRules(repair_subsidised=True))
    assert {o.subsidy_fen for o in repair_offers(hardship, YEAR, subsidised, Continuity(frozenset()))} == {20000}


def test_a_child_born_in_2026_has_only_2026_to_repair() -> None:
    offers = repair_offers(enrollment(born=D(2026, 3, 1)), YEAR, POLICY, Continuity(frozenset()))
    assert [o.repaired_year for o in offers] == [2026]


def test_a_year_on_the_old_rules_has_nothing_to_repair() -> None:
    with pytest.raises(DomainError) as refused:
        repair_offers(enrollment(), replace(YEAR, wait_free_until=None), POLICY, Continuity(frozenset()))
    assert refused.value.reason == "REPAIR_NOT_OFFERED"
