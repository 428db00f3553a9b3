"""Region policies per insurance year (R2): validation, subsidies and which years are on sale."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.evidence_rules import validate_evidence
from services.registration.domain.long_term_rules import validate_rules
from services.registration.domain.model import Category, RegionPolicy
from services.registration.domain.waiting import add_months

MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_REVIEW_GRACE_DAYS = 366


def validate_policy(policy: RegionPolicy) -> RegionPolicy:
    """Checks a policy before it is stored; a zero newborn standard means the individual standard."""
    if not (MIN_YEAR <= policy.insurance_year <= MAX_YEAR):
        raise _bad("policy.insurance_year", f"insurance_year must be {MIN_YEAR}-{MAX_YEAR}", "参保年度超出范围")
    if policy.individual_standard_fen <= 0:
        raise _bad(
            "policy.individual_standard_fen", "individual standard must be positive fen", "个人缴费标准必须大于0"
        )
    if policy.fiscal_subsidy_fen < 0:
        raise _bad("policy.fiscal_subsidy_fen", "fiscal subsidy must not be negative", "财政补助不能为负数")
    if policy.newborn_standard_fen < 0:
        raise _bad("policy.newborn_standard_fen", "newborn standard must not be negative", "新生儿缴费标准不能为负数")
    for category, subsidy in policy.category_subsidies.items():
        ceiling = max(policy.individual_standard_fen, policy.newborn_standard_fen)
        if not 0 <= subsidy <= ceiling:
            raise _bad(
                "policy.category_subsidies",
                f"subsidy for {category} must be between 0 and the standard ({ceiling} fen)",
                f"{category}的资助金额必须在0至缴费标准之间",
            )
    if not 0 <= policy.review_grace_days <= MAX_REVIEW_GRACE_DAYS:
        raise _bad(
            "policy.review_grace_days",
            f"review grace period must be 0-{MAX_REVIEW_GRACE_DAYS} days",
            f"审核宽限期应为0至{MAX_REVIEW_GRACE_DAYS}天",
        )
    window, benefit = policy.collection_window, policy.benefit_period
    if window.start > window.end:
        raise _bad("policy.collection_window", "collection window ends before it starts", "缴费期结束日期早于开始日期")
    if benefit.start > benefit.end:
        raise _bad("policy.benefit_period", "benefit period ends before it starts", "待遇享受期结束日期早于开始日期")
    if not (benefit.start.year <= policy.insurance_year <= benefit.end.year):
        raise _bad(
            "policy.benefit_period",
            f"benefit period must include insurance year {policy.insurance_year}",
            "待遇享受期必须落在参保年度内",
        )
    if window.start > benefit.end:
        raise _bad(
            "policy.collection_window",
            "collection window must open before the benefit period ends",
            "缴费期必须在待遇享受期结束前开始",
        )
    validate_rules(policy.rules)
    _check_registration_terms(policy)
    if policy.newborn_standard_fen == 0:
        policy = replace(policy, newborn_standard_fen=policy.individual_standard_fen)
    return policy


def _check_registration_terms(policy: RegionPolicy) -> None:
    """Who may register with what and pay how (R45, R49, issue 19): the evidence rules, the elderly age
    and the channels' opening days."""
    validate_evidence(policy.evidence)
    if not 40 <= policy.elderly_age <= 100:
        raise _bad("policy.elderly_age", "elderly_age must be 40-100", "老年居民年龄应为40至100周岁")
    for channel, opens in (policy.channel_openings or {}).items():
        if not policy.collection_window.start <= opens <= policy.benefit_period.end:
            raise _bad(
                "policy.channel_openings",
                f"{channel} must open between the window's start and the benefit period's end (R49)",
                "缴费渠道开通日期应在缴费期开始至待遇期结束之间",
            )


def subsidy_for(policy: RegionPolicy, category: Category, standard: Fen) -> Fen:
    """The category subsidy (政府分类资助), never more than the standard it reduces (R17)."""
    return Fen(min(policy.category_subsidies.get(category, Fen(0)), standard))


def in_window(policies: Iterable[RegionPolicy], day: dt.date) -> list[RegionPolicy]:
    """Policies whose collection window contains `day` (CST), by year: the years renewal carries
    enrollments into (R10)."""
    return sorted((p for p in policies if day in p.collection_window), key=lambda p: p.insurance_year)


def on_sale(
    policies: Iterable[RegionPolicy], day: dt.date, exempt: Callable[[RegionPolicy], bool] = lambda _: False
) -> list[RegionPolicy]:
    """Policies sold on `day` (CST), by year: in their window, or outside it where off-window
    enrollment is on (R36); `exempt(policy)`: the buyer is known to wait for nothing there."""
    return sorted((p for p in policies if day in sale_period(p, exempt=exempt(p))), key=lambda p: p.insurance_year)


def sale_period(policy: RegionPolicy, *, exempt: bool = False) -> DateRange:
    """The days a year can be registered for and paid: its window, and with off-window enrollment
    (R36) on to the last day a payment's fixed wait still ends inside the benefit period (a payment
    whose least wait outlasts the year would buy nothing, so it is not sold); to the benefit period's
    last day for a buyer known to wait for nothing (`exempt`, R37)."""
    rules = policy.rules
    window, benefit = policy.collection_window, policy.benefit_period
    if not (rules.enabled and rules.off_window_enrollment):
        return window
    if exempt:
        return DateRange(window.start, max(window.end, benefit.end))
    last = add_months(benefit.end + dt.timedelta(days=1), -rules.fixed_wait_months) - dt.timedelta(days=1)
    return DateRange(window.start, max(window.end, min(last, benefit.end)))


def wait_free_until(policy: RegionPolicy) -> dt.date | None:
    """The last day a payment for the year needs no wait when enrollment was continuous (R37): the
    window's end; None for a year sold on the rules before 2025."""
    return policy.collection_window.end if policy.rules.enabled else None


def governing_policy(policies: Iterable[RegionPolicy], day: dt.date, region_code: str) -> RegionPolicy:
    """The policy whose rules (review mode) apply to a registration on `day`: the latest year whose
    window has opened, else the earliest year known."""
    known = sorted(policies, key=lambda p: p.insurance_year)
    if not known:
        raise FailedPrecondition(
            "REGION_HAS_NO_POLICY",
            f"region {region_code} has no policy; registration is not open there",
            f"统筹区{region_code}尚未设置参保政策,暂不能参保登记",
            metadata={"region_code": region_code},
        )
    opened = [p for p in known if p.collection_window.start <= day]
    return opened[-1] if opened else known[0]


def _bad(field: str, message: str, message_zh: str) -> InvalidArgument:
    return InvalidArgument("INVALID_POLICY", message, message_zh, field=field, metadata={"field": field})
