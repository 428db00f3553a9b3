"""R39: the continuous-enrollment incentive, decided in the domain without I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from services.common.money import Fen
from services.common.periods import CST, DateRange
from services.registration.domain.continuity import Continuity, continuity_of
from services.registration.domain.incentive import incentive_for
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import Category, Enrollment, EnrollmentState, EnrollmentYear, YearStatus

RULES = LongTermRules()  # base cap 400,000 CNY, steps 1,000 CNY, raises at most 20% (80,000 CNY)
BASE = RULES.base_serious_illness_cap_fen
STEP = 100_000
RUN_2025_2029 = Continuity(frozenset(range(2025, 2030)))
FUND_PAID_EVERY_YEAR = set(range(2025, 2030))


def test_continuous_2025_to_2029_raises_2030_by_one_step() -> None:
    found = incentive_for(2030, RUN_2025_2029, FUND_PAID_EVERY_YEAR, RULES)
    assert (found.continuous_years, found.continuous_steps, found.zero_claim_steps) == (5, 1, 0)
    assert found.cap_fen == BASE + STEP


def test_a_zero_claim_year_adds_a_step_and_a_fund_use_takes_it_away() -> None:
    zero_in_2029 = FUND_PAID_EVERY_YEAR - {2029}
    assert incentive_for(2030, RUN_2025_2029, zero_in_2029, RULES).cap_fen == BASE + 2 * STEP
    assert incentive_for(2030, RUN_2025_2029, FUND_PAID_EVERY_YEAR, RULES).cap_fen == BASE + STEP


@pytest.mark.parametrize(("years", "steps"), [(4, 0), (5, 1), (8, 4)])
def test_the_first_four_continuous_years_raise_nothing(years: int, steps: int) -> None:
    run = Continuity(frozenset(range(2025, 2025 + years)))
    found = incentive_for(2025 + years, run, set(range(2025, 2025 + years)), RULES)
    assert found.continuous_steps == steps


def test_the_raises_stop_at_twenty_percent_of_the_base_cap() -> None:
    rules = replace(RULES, continuous_step_fen=Fen(3_000_000), zero_claim_step_fen=Fen(3_000_000))
    found = incentive_for(2040, Continuity(frozenset(range(2025, 2040))), set(), rules)
    assert (found.raise_fen, found.cap_fen) == (BASE // 5, BASE + BASE // 5)


def test_a_gap_resets_the_raise_and_may_cost_a_penalty() -> None:
    gap_in_2029 = Continuity(frozenset(range(2025, 2029)) | {2030})
    assert incentive_for(2031, gap_in_2029, set(), RULES).raise_fen == STEP  # the 2030 run: one zero-claim step
    assert incentive_for(2030, gap_in_2029, set(), RULES).cap_fen == BASE
    penalised = replace(RULES, gap_penalty_fen=Fen(50_000))
    assert incentive_for(2030, gap_in_2029, set(), penalised).cap_fen == BASE - 50_000
    assert incentive_for(2025, Continuity(frozenset()), set(), penalised).cap_fen == BASE  # a first enrollment


def test_the_incentive_follows_a_person_who_moved_without_a_gap() -> None:
    """R39: 2025-2027 in Anqing, stopped (moved away), 2028-2029 in Changzhou: 2030 is raised as if one
    region; a move that leaves 2028 unpaid resets it."""

    def enrollment(region: str, years: range, state: EnrollmentState) -> Enrollment:
        at = dt.datetime(years.start - 1, 11, 1, tzinfo=CST)
        covered = tuple(
            EnrollmentYear(
                y, YearStatus.COVERED, DateRange(dt.date(y, 1, 1), dt.date(y, 12, 31)),
                DateRange(dt.date(y - 1, 9, 1), dt.date(y - 1, 12, 31)), False, 1, Fen(40000), Fen(0),
                DateRange(dt.date(y - 1, 9, 1), dt.date(y - 1, 12, 31)),
            )
            for y in years
        )  # fmt: skip
        return Enrollment(
            f"e-{region}", "x", "张三", "13800138000", dt.date(1980, 1, 1), region, None, Category.NON_EMPLOYED,
            state, 1, (), at, at, years=covered,
        )  # fmt: skip

    moved = [
        enrollment("340800", range(2025, 2028), EnrollmentState.STOPPED),
        enrollment("320400", range(2028, 2030), EnrollmentState.ACTIVE),
    ]
    continuity = continuity_of(moved, [], today=dt.date(2029, 12, 1))
    assert incentive_for(2030, continuity, FUND_PAID_EVERY_YEAR, RULES).cap_fen == BASE + STEP
    with_gap = [moved[0], enrollment("320400", range(2029, 2030), EnrollmentState.ACTIVE)]
    gap = continuity_of(with_gap, [], today=dt.date(2029, 12, 1))
    assert incentive_for(2030, gap, FUND_PAID_EVERY_YEAR, RULES).continuous_years == 1
    assert incentive_for(2030, gap, FUND_PAID_EVERY_YEAR, RULES).raise_fen == 0
