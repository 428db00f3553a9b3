"""Waiting periods (R37), repairs (R38) and continuity, decided in the domain without I/O, table-driven
over the policy settings the regions publish (Qingdao does not count the first missed year, Xianning does).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.collection.domain.model import Channel, ItemStatus, OrderStatus, RefundReason
from services.collection.domain.payments import ChannelPayment, ItemState, OrderState, Outcome, decide
from services.common.money import Fen
from services.common.periods import CST, DateRange
from services.registration.domain.continuity import Continuity, continuity_of
from services.registration.domain.long_term_rules import (
    LongTermRules,
    rules_from_json,
    rules_to_json,
    validate_rules,
)
from services.registration.domain.model import Category, ExternalEnrollment, Scheme, WaitExemption
from services.registration.domain.policy import sale_period
from services.registration.domain.registration import years_to_assess
from services.registration.domain.waiting import Exemption, GrantFacts, add_months, decide_wait
from tests.unit.test_policy import anqing_2024 as base_policy

D = dt.date
QINGDAO = LongTermRules(first_gap_year_counts=False)
XIANNING = LongTermRules(first_gap_year_counts=True)
YEAR = 2027
BENEFIT = DateRange(D(YEAR, 1, 1), D(YEAR, 12, 31))
WINDOW_END = D(2026, 12, 31)


def facts(
    paid_on: dt.date, *, category: Category = Category.NON_EMPLOYED, subsidy: int = 0, **kw: object
) -> GrantFacts:
    base = GrantFacts(
        insurance_year=YEAR,
        category=category,
        birth_date=D(1980, 5, 1),
        coverage=BENEFIT,
        wait_free_until=WINDOW_END,
        subsidy_fen=subsidy,
        paid_on=paid_on,
        newborn_deadline=D(1980, 7, 30),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def enrolled(*years: int, repaired: tuple[int, ...] = ()) -> Continuity:
    return Continuity(frozenset(years), frozenset(repaired))


CONTINUOUS = enrolled(2025, 2026)
MISSED_TWO = enrolled(2024)  # missed 2025 and 2026

CASES = [
    # (case, rules, continuity, paid on, months, covered from)
    ("continuous, paid in the window", QINGDAO, CONTINUOUS, D(2026, 11, 20), 0, D(2027, 1, 1)),
    ("continuous, paid on 10 Feb of the year", QINGDAO, CONTINUOUS, D(2027, 2, 10), 3, D(2027, 5, 10)),
    ("missed two, window, Qingdao", QINGDAO, MISSED_TWO, D(2026, 11, 20), 4, D(2027, 5, 1)),
    ("missed two, window, Xianning", XIANNING, MISSED_TWO, D(2026, 11, 20), 5, D(2027, 6, 1)),
    (
        "missed two, one repaired, Xianning",
        XIANNING,
        enrolled(2024, repaired=(2026,)),
        D(2026, 11, 20),
        4,
        D(2027, 5, 1),
    ),
    ("missed two, one repaired, Qingdao", QINGDAO, enrolled(2024, repaired=(2026,)), D(2026, 11, 20), 3, D(2027, 4, 1)),
    ("missed two, both repaired", XIANNING, enrolled(2024, repaired=(2025, 2026)), D(2026, 11, 20), 3, D(2027, 4, 1)),
    ("missed two, paid off-window in March", QINGDAO, MISSED_TWO, D(2027, 3, 5), 4, D(2027, 7, 5)),
]


@pytest.mark.parametrize(
    ("case", "rules", "continuity", "paid_on", "months", "start"), CASES, ids=[c[0] for c in CASES]
)
def test_the_wait_of_a_paid_year(
    case: str, rules: LongTermRules, continuity: Continuity, paid_on: dt.date, months: int, start: dt.date
) -> None:
    wait = decide_wait(facts(paid_on), rules, continuity)
    assert (wait.months, wait.coverage_starts) == (months, start), case


def test_five_missed_years_all_repaired_never_wait_under_six_months() -> None:
    # Missed 2022-2026 (counting from 2022 here), all repaired: 3 fixed + 0 variable, floored at 6.
    rules = replace(QINGDAO, gap_counting_from_year=2022)
    wait = decide_wait(facts(D(2026, 11, 20)), rules, enrolled(2021, repaired=(2022, 2023, 2024, 2025, 2026)))
    assert (wait.months, wait.floor_applied, wait.coverage_starts) == (6, True, D(2027, 7, 1))
    unrepaired = decide_wait(facts(D(2026, 11, 20)), rules, enrolled(2021))
    assert unrepaired.months == 3 + 4  # the floor never lengthens a wait


def test_repairs_never_shorten_the_fixed_wait() -> None:
    wait = decide_wait(facts(D(2027, 2, 10)), XIANNING, enrolled(2024, repaired=(2025, 2026)))
    assert (wait.fixed_months, wait.variable_months, wait.repaired_months, wait.months) == (3, 2, 2, 3)


@pytest.mark.parametrize(
    ("case", "kw", "exemption"),
    [
        (
            "newborn within 90 days",
            {"category": Category.NEWBORN, "newborn_deadline": D(2027, 3, 1)},
            Exemption.NEWBORN,
        ),
        (
            "subsidised hardship",
            {"category": Category.HARDSHIP_LOW_INCOME, "subsidy": 21000},
            Exemption.SUBSIDISED_HARDSHIP,
        ),
        ("hardship without a subsidy waits", {"category": Category.HARDSHIP_LOW_INCOME, "subsidy": 0}, None),
        ("newborn past 90 days waits", {"category": Category.NEWBORN, "newborn_deadline": D(2027, 1, 1)}, None),
    ],
)
def test_exempt_people_do_not_wait(case: str, kw: dict[str, object], exemption: Exemption | None) -> None:
    wait = decide_wait(facts(D(2027, 2, 10), **kw), QINGDAO, MISSED_TWO)  # type: ignore[arg-type]
    assert wait.exemption is exemption, case
    assert (wait.months == 0) is (exemption is not None), case


def test_no_wait_outside_the_window_starts_on_the_payment_day_but_a_newborn_is_covered_from_birth() -> None:
    """R37: the wait runs from the later of the payment and the benefit period's start, so an exempt
    person paying on 10 Feb is covered from 10 Feb, never back to 1 January; a newborn paid for within
    90 days is covered from birth (R13), the start of the coverage assessed for it."""
    hardship = decide_wait(
        facts(D(2027, 2, 10), category=Category.HARDSHIP_LOW_INCOME, subsidy=21000), QINGDAO, MISSED_TWO
    )
    assert (hardship.months, hardship.coverage_starts) == (0, D(2027, 2, 10))
    born = D(2027, 1, 20)
    newborn = decide_wait(
        facts(
            D(2027, 2, 10),
            category=Category.NEWBORN,
            birth_date=born,
            coverage=DateRange(born, BENEFIT.end),
            newborn_deadline=D(2027, 4, 20),
        ),
        QINGDAO,
        MISSED_TWO,
    )
    assert (newborn.exemption, newborn.coverage_starts) == (Exemption.NEWBORN, born)
    in_window = decide_wait(
        facts(D(2026, 11, 20), category=Category.HARDSHIP_LOW_INCOME, subsidy=21000), QINGDAO, MISSED_TWO
    )
    assert in_window.coverage_starts == BENEFIT.start


@pytest.mark.parametrize(("months_after", "waits"), [(2, False), (4, True)])
def test_a_switch_from_employee_insurance(months_after: int, waits: bool) -> None:
    ended = dt.datetime(2026, 12, 15, 12, tzinfo=CST)
    employee = ExternalEnrollment(
        "x",
        "110101199003070015",
        "张三",
        "320400",
        "常州市",
        Scheme.EMPLOYEE,
        "EMPLOYEE_FUND",
        active=False,
        created_at=dt.datetime(2020, 1, 1, tzinfo=CST),
        ended_at=ended,
    )
    paid_on = add_months(ended.date(), months_after)
    wait = decide_wait(facts(paid_on), QINGDAO, Continuity(frozenset()), (employee,))
    assert (wait.months > 0) is waits
    assert (wait.exemption is Exemption.SCHEME_SWITCH) is not waits


def test_a_year_sold_on_the_old_rules_never_waits() -> None:
    wait = decide_wait(facts(D(2027, 2, 10), wait_free_until=None), QINGDAO, MISSED_TWO)
    assert (wait.months, wait.coverage_starts) == (0, D(2027, 1, 1))


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2027, 2, 10), 3, D(2027, 5, 10)),
        (D(2026, 11, 30), 3, D(2027, 3, 1)),
        (D(2027, 1, 31), 1, D(2027, 3, 1)),
        (D(2027, 11, 5), 3, D(2028, 2, 5)),
        (D(2027, 1, 1), -3, D(2026, 10, 1)),
        (D(2027, 1, 1), 0, D(2027, 1, 1)),
    ],
)
def test_months_are_counted_to_the_corresponding_day(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def test_continuity_across_regions_and_schemes() -> None:
    # A move between regions that leaves no year unpaid keeps continuity; employee years count (R8).
    assert Continuity(frozenset({2025, 2026})).is_continuous_before(2027, 2025)
    assert Continuity(frozenset({2025})).gap_years_before(2027, 2025) == 1
    assert Continuity(frozenset()).gap_years_before(2027, 2025) == 2
    assert Continuity(frozenset({2025, 2026, 2028})).continuous_run_before(2029, 2025) == (2028,)
    employee = ExternalEnrollment(
        "x",
        "110101199003070015",
        "张三",
        "110000",
        "北京市",
        Scheme.EMPLOYEE,
        "EMPLOYEE_FUND",
        active=True,
        created_at=dt.datetime(2025, 3, 1, tzinfo=CST),
    )
    assert continuity_of([], [employee], today=D(2026, 12, 3)).enrolled == frozenset({2025, 2026})


def test_off_window_sale_ends_when_the_fixed_wait_would_outlast_the_year() -> None:
    policy = replace(
        base_policy(),
        insurance_year=2026,
        benefit_period=DateRange(D(2026, 1, 1), D(2026, 12, 31)),
        collection_window=DateRange(D(2025, 9, 1), D(2025, 12, 31)),
    )
    assert sale_period(policy) == DateRange(D(2025, 9, 1), D(2026, 9, 30))
    old_rules = replace(policy, long_term=LongTermRules(enabled=False))
    assert sale_period(old_rules) == policy.collection_window


@pytest.mark.parametrize(
    ("category", "exemption", "sold_until"),
    [
        (Category.NON_EMPLOYED, None, None),  # a 3-month wait from 10 Nov outlasts the year: not sold
        (Category.HARDSHIP_LOW_INCOME, None, D(2026, 12, 31)),  # subsidised: waits for nothing
        (Category.HARDSHIP_EXTREME_POVERTY, None, D(2026, 12, 31)),  # subsidised in full
        (Category.NON_EMPLOYED, WaitExemption("RETURNING_GRADUATE", "毕业证"), D(2026, 12, 31)),  # listed
        (Category.NON_EMPLOYED, WaitExemption("OTHER", "x"), None),
    ],
)
def test_someone_known_to_wait_for_nothing_may_buy_the_year_in_progress_to_its_last_day(
    category: Category, exemption: WaitExemption | None, sold_until: dt.date | None
) -> None:
    """R36 with R37: on 10 Nov a year whose fixed wait would outlast it is sold only to those the
    registration shows to wait for nothing (a subsidised hardship category, a reason the region lists)."""
    policy = replace(
        base_policy(
            category_subsidies={Category.HARDSHIP_LOW_INCOME: Fen(20000), Category.HARDSHIP_EXTREME_POVERTY: Fen(38000)}
        ),
        insurance_year=2026,
        benefit_period=DateRange(D(2026, 1, 1), D(2026, 12, 31)),
        collection_window=DateRange(D(2025, 9, 1), D(2025, 12, 31)),
        long_term=LongTermRules(exempt_reasons=("RETURNING_GRADUATE",)),
    )
    years = years_to_assess(
        category=category,
        birth_date=D(1990, 5, 1),
        registered_on=D(2026, 11, 10),
        policies={2026: policy},
        wait_exemption=exemption,
    )
    assert [y.payable.end for y in years] == ([sold_until] if sold_until else [])


@pytest.mark.parametrize(
    ("category", "registered_on", "last_day"),
    [
        (Category.NON_EMPLOYED, D(2026, 2, 10), D(2026, 9, 30)),  # sold until the fixed wait still ends in 2026
        (Category.HARDSHIP_LOW_INCOME, D(2026, 11, 10), D(2026, 12, 31)),  # waits for nothing: to the last day
    ],
)
def test_a_payment_for_a_benefit_year_that_has_ended_is_still_refunded(
    category: Category, registered_on: dt.date, last_day: dt.date
) -> None:
    """R36 (last sentence) with R23: off-window enrollment sells the year in progress, never one that has
    ended. The year's payable item, as registration assesses it, takes money up to its last day (CST) and
    refunds money paid after it (OUTSIDE_WINDOW), however the buyer's wait would have been decided."""
    policy = replace(
        base_policy(category_subsidies={Category.HARDSHIP_LOW_INCOME: Fen(20000)}),
        insurance_year=2026,
        benefit_period=DateRange(D(2026, 1, 1), D(2026, 12, 31)),
        collection_window=DateRange(D(2025, 9, 1), D(2025, 12, 31)),
    )
    (year,) = years_to_assess(
        category=category, birth_date=D(1990, 5, 1), registered_on=registered_on, policies={2026: policy}
    )
    assert year.payable.end == last_day <= policy.benefit_period.end
    order = OrderState("o1", OrderStatus.PENDING, Fen(38000))
    item = [ItemState("i1", ItemStatus.UNPAID, year.payable.end)]

    def paid(day: dt.date, hour: int, minute: int, second: int) -> ChannelPayment:
        at = dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=CST)
        return ChannelPayment(Channel.WECHAT, "t1", "o1", Fen(38000), at, b"")

    assert decide(order, item, paid(last_day, 23, 59, 59)).outcome is Outcome.APPLY
    late = decide(order, item, paid(last_day + dt.timedelta(days=1), 0, 0, 0))
    assert (late.outcome, late.refund_reason) == (Outcome.REFUND, RefundReason.OUTSIDE_WINDOW)
    ended = decide(order, item, paid(D(2027, 1, 10), 10, 0, 0))
    assert (ended.outcome, ended.refund_reason) == (Outcome.REFUND, RefundReason.OUTSIDE_WINDOW)


def test_rules_round_trip_and_default_by_year() -> None:
    rules = LongTermRules(first_gap_year_counts=True, exempt_reasons=("RETURNING_GRADUATE",))
    assert rules_from_json(rules_to_json(rules), 2027) == rules
    assert rules_from_json({}, 2024).enabled is False
    assert rules_from_json({}, 2025) == LongTermRules()
    assert LongTermRules().raise_ceiling_fen == 8_000_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fixed_wait_months": 25}, "fixed_wait_months"),
        ({"continuous_step_fen": 99_999}, "continuous_step_fen"),
        ({"raise_cap_percent": 101}, "raise_cap_percent"),
        ({"exempt_reasons": ("bad reason",)}, "exempt_reasons[0]"),
    ],
)
def test_rules_a_region_cannot_mean_are_refused(change: dict[str, object], field: str) -> None:
    with pytest.raises(Exception) as refused:
        validate_rules(replace(LongTermRules(), **change))  # type: ignore[arg-type]
    assert getattr(refused.value, "field", "") == f"policy.long_term.{field}"
