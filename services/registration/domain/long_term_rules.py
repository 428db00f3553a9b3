"""The long-term enrollment mechanism of a region's year (R36-R39, 国办发〔2024〕38号): region policy data
with the national values as defaults, versioned with the rest of the policy (R2).

The stored form (a JSON object in region_policies.long_term) is written and read only here; a key left
out reads as its national default, so a policy stored before these rules existed reads as the law says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from services.common.errors import InvalidArgument
from services.common.money import Fen

# The guidance is in force from the 2025 benefit year; a year before it is sold on the old rules.
MECHANISM_FIRST_YEAR = 2025
MAX_MONTHS = 24
YUAN_1000 = Fen(100_000)
BASE_CAP = Fen(40_000_000)  # 400,000 CNY: a serious-illness cap of the order regions publish
NO_FEN = Fen(0)


@dataclass(frozen=True)
class LongTermRules:
    """One region-year's terms; every number is the region's to set (R36-R39)."""

    # False: the year is sold on the rules before 2025 (window only, no waiting period).
    enabled: bool = True
    # R36: registration and payment outside the collection window (非集中参保期).
    off_window_enrollment: bool = True
    # R37: 固定待遇等待期 and 变动待遇等待期 per further year without enrollment.
    fixed_wait_months: int = 3
    variable_wait_months_per_gap_year: int = 1
    # Whether the first missed year already adds variable months (Xianning) or not (Qingdao, national).
    first_gap_year_counts: bool = False
    # Gap years are counted from this benefit year on (the mechanism's first year).
    gap_counting_from_year: int = MECHANISM_FIRST_YEAR
    # R37 exemptions beyond the category rules: months since employee insurance ended, and the further
    # reasons the region lists (stated with evidence at registration).
    scheme_switch_months: int = 3
    exempt_reasons: tuple[str, ...] = ()
    # R38: repairs; the wait after repair is never below the floor once the gap reached floor_gap_years.
    repaired_wait_floor_months: int = 6
    floor_gap_years: int = 4
    repair_subsidised: bool = False
    # R39: the serious-illness (大病保险) cap and its raises.
    base_serious_illness_cap_fen: Fen = BASE_CAP
    incentive_after_continuous_years: int = 4
    continuous_step_fen: Fen = YUAN_1000
    zero_claim_step_fen: Fen = YUAN_1000
    raise_cap_percent: int = 20
    gap_penalty_fen: Fen = NO_FEN

    @property
    def raise_ceiling_fen(self) -> Fen:
        """The most the raises may add to the base cap (R39: a share of it, 20% by default)."""
        return Fen(self.base_serious_illness_cap_fen * self.raise_cap_percent // 100)


def default_rules(insurance_year: int) -> LongTermRules:
    """The national defaults for a benefit year: the mechanism from 2025, the old rules before."""
    return LongTermRules(enabled=insurance_year >= MECHANISM_FIRST_YEAR)


def rules_to_json(rules: LongTermRules) -> dict[str, Any]:
    """The stored form of the rules."""
    stored = asdict(rules)
    stored["exempt_reasons"] = list(rules.exempt_reasons)
    return stored


def rules_from_json(stored: Mapping[str, Any] | None, insurance_year: int) -> LongTermRules:
    """Rules back from their stored form; missing keys take the year's national default."""
    base = asdict(default_rules(insurance_year))
    known = {f.name for f in fields(LongTermRules)}
    base.update({k: v for k, v in (stored or {}).items() if k in known})
    base["exempt_reasons"] = tuple(base["exempt_reasons"])
    return LongTermRules(**base)


def validate_rules(rules: LongTermRules, field: str = "policy.long_term") -> LongTermRules:
    """Refuses numbers the law or arithmetic cannot mean; returns the rules unchanged."""
    months = {
        "fixed_wait_months": rules.fixed_wait_months,
        "variable_wait_months_per_gap_year": rules.variable_wait_months_per_gap_year,
        "scheme_switch_months": rules.scheme_switch_months,
        "repaired_wait_floor_months": rules.repaired_wait_floor_months,
    }
    for name, value in months.items():
        if not 0 <= value <= MAX_MONTHS:
            raise _bad(f"{field}.{name}", f"{name} must be 0-{MAX_MONTHS} months", "等待期月数应为0至24个月")
    if not 1 <= rules.floor_gap_years <= 50:
        raise _bad(f"{field}.floor_gap_years", "floor_gap_years must be 1-50", "断保年数应为1至50年")
    if not 0 <= rules.incentive_after_continuous_years <= 50:
        raise _bad(
            f"{field}.incentive_after_continuous_years",
            "incentive_after_continuous_years must be 0-50",
            "连续参保年数应为0至50年",
        )
    if not 2000 <= rules.gap_counting_from_year <= 2100:
        raise _bad(f"{field}.gap_counting_from_year", "gap_counting_from_year must be 2000-2100", "年度超出范围")
    for name in ("continuous_step_fen", "zero_claim_step_fen"):
        step = getattr(rules, name)
        if rules.enabled and step < YUAN_1000:
            raise _bad(
                f"{field}.{name}", f"{name} must be at least 100000 fen (1,000 CNY, R39)", "激励额度不低于1000元"
            )
    if rules.base_serious_illness_cap_fen < 0 or rules.gap_penalty_fen < 0:
        raise _bad(f"{field}.base_serious_illness_cap_fen", "amounts must not be negative", "金额不能为负数")
    if not 0 <= rules.raise_cap_percent <= 100:
        raise _bad(f"{field}.raise_cap_percent", "raise_cap_percent must be 0-100", "提高比例应为0至100")
    for position, reason in enumerate(rules.exempt_reasons):
        if not (reason and reason.isascii() and reason.replace("_", "").isalnum() and len(reason) <= 40):
            raise _bad(
                f"{field}.exempt_reasons[{position}]",
                "an exempt reason is a code of letters, digits and _ (at most 40)",
                "免等待期原因代码格式不正确",
            )
    return rules


def _bad(field: str, message: str, message_zh: str) -> InvalidArgument:
    return InvalidArgument("INVALID_POLICY", message, message_zh, field=field, metadata={"field": field})
