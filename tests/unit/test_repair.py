"""R38: which missed years may be repaired, at what price, and which are worth selling (the domain,
without I/O)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.common.errors import DomainError
from services.common.money import Fen
from services.common.periods import CST, DateRange
from services.registration.domain.continuity import Continuity
from services.registration.domain.coverage import PersonHistory
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import Category, Enrollment, EnrollmentState, EnrollmentYear, YearStatus
from services.registration.domain.repair import repair_offers, repair_plan, repairable_years
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


# -- which repairs buy something (R38): a repair that moves no start is not sold ------------------------

# Gap years counted from 2020 here, so that five missed years before 2027 are five.
QINGDAO = LongTermRules(first_gap_year_counts=False, gap_counting_from_year=2020)
XIANNING = LongTermRules(first_gap_year_counts=True, gap_counting_from_year=2020)
IN_WINDOW = D(2026, 11, 20)

PLANS = [
    # (case, rules, missed years, already repaired, wait, starts, useful repairs (year, starts), idle, least)
    # Qingdao: the first missed year adds nothing, so one missed year leaves only the fixed 3 months.
    ("Qingdao, 1 missed", QINGDAO, 1, (), 3, D(2027, 4, 1), [], [2026], 3),
    # 3 + 1: one repair takes the variable month; the second can shorten nothing (the README's case).
    ("Qingdao, 2 missed", QINGDAO, 2, (), 4, D(2027, 5, 1), [(2026, D(2027, 4, 1))], [2025], 3),
    ("Qingdao, 2 missed, 2026 repaired", QINGDAO, 2, (2026,), 3, D(2027, 4, 1), [], [2025], 3),
    # 3 + 3 = 6: the floor after 4 gap years is already reached, no repair buys anything.
    ("Qingdao, 4 missed: the floor binds", QINGDAO, 4, (), 6, D(2027, 7, 1), [], [2026, 2025, 2024, 2023], 6),
    # 3 + 4 = 7: one repair → 6, the floor; the other four buy nothing.
    (
        "Qingdao, 5 missed",
        QINGDAO,
        5,
        (),
        7,
        D(2027, 8, 1),
        [(2026, D(2027, 7, 1))],
        [2025, 2024, 2023, 2022],
        6,
    ),
    ("Xianning, 1 missed", XIANNING, 1, (), 4, D(2027, 5, 1), [(2026, D(2027, 4, 1))], [], 3),
    (
        "Xianning, 2 missed",
        XIANNING,
        2,
        (),
        5,
        D(2027, 6, 1),
        [(2026, D(2027, 5, 1)), (2025, D(2027, 4, 1))],
        [],
        3,
    ),
    # 3 + 4 = 7: one repair → 6, the floor; the rest buy nothing.
    ("Xianning, 4 missed", XIANNING, 4, (), 7, D(2027, 8, 1), [(2026, D(2027, 7, 1))], [2025, 2024, 2023], 6),
    # 3 + 5 = 8: two repairs → 6, the floor; the other three buy nothing.
    (
        "Xianning, 5 missed",
        XIANNING,
        5,
        (),
        8,
        D(2027, 9, 1),
        [(2026, D(2027, 8, 1)), (2025, D(2027, 7, 1))],
        [2024, 2023, 2022],
        6,
    ),
]


@pytest.mark.parametrize(
    ("case", "rules", "missed", "repaired", "months", "starts", "useful", "idle", "least"),
    PLANS,
    ids=[p[0] for p in PLANS],
)
def test_only_the_repairs_that_move_the_start_are_offered(
    case: str,
    rules: LongTermRules,
    missed: int,
    repaired: tuple[int, ...],
    months: int,
    starts: dt.date,
    useful: list[tuple[int, dt.date]],
    idle: list[int],
    least: int,
) -> None:
    """R38: the most recent missed years first, each offered only when it moves the start earlier; once
    the variable months are gone (the fixed wait remains) or the floor after 4+ gap years binds, the
    rest are idle. Each useful step is one month (the region's variable month per gap year)."""
    person = enrollment()
    history = PersonHistory((person,), (), Continuity(frozenset({2026 - missed}), frozenset(repaired)))
    plan = repair_plan(person, YEAR, replace(POLICY, long_term=rules), history, IN_WINDOW)
    assert (plan.wait.months, plan.wait.coverage_starts) == (months, starts), case
    assert [(s.offer.repaired_year, s.coverage_start_if_repaired) for s in plan.repairs] == useful, case
    assert list(plan.idle_years) == idle, case
    assert plan.least_wait_months == least, case
    assert all(s.offer.standard_fen == 40000 for s in plan.repairs), case
    # Every missed year not repaired yet is either worth repairing or idle, never both or neither.
    offered = {s.offer.repaired_year for s in plan.repairs}
    assert offered | set(idle) == set(range(2027 - missed, 2027)) - set(repaired), case
    assert not offered & set(idle), case


def test_an_exempt_person_is_sold_no_repair_and_a_year_on_the_old_rules_quotes_none() -> None:
    """R37, R38: a subsidised hardship resident waits for nothing, so every missed year is idle; a year on
    the rules before 2025 has no wait and no repair to quote."""
    hardship = enrollment(Category.HARDSHIP_LOW_INCOME)
    subsidised_year = replace(YEAR, subsidy_fen=Fen(20000))
    history = PersonHistory((hardship,), (), Continuity(frozenset({2024})))
    plan = repair_plan(hardship, subsidised_year, replace(POLICY, long_term=QINGDAO), history, IN_WINDOW)
    assert (plan.wait.months, plan.repairs, plan.idle_years, plan.least_wait_months) == (0, (), (2026, 2025), 0)
    old = repair_plan(enrollment(), replace(YEAR, wait_free_until=None), POLICY, history, IN_WINDOW)
    assert (old.wait.months, old.repairs, old.idle_years) == (0, (), ())
