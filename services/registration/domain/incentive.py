"""The continuous-enrollment incentive (连续参保激励, R39): the serious-illness insurance payment cap of a
person's benefit year, raised for each continuous year after the first ones and for each year of the
run in which the fund paid nothing for them, the raises together at most a share of the base cap. A gap
resets the raises; it follows the person across regions, as continuity does (continuity.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from services.common.money import Fen
from services.registration.domain.continuity import Continuity
from services.registration.domain.long_term_rules import LongTermRules


@dataclass(frozen=True)
class Incentive:
    insurance_year: int
    continuous_years: int  # the unbroken enrolled years before the year
    continuous_steps: int
    zero_claim_steps: int
    raise_fen: Fen
    cap_fen: Fen


def incentive_for(year: int, continuity: Continuity, fund_used_in: Collection[int], rules: LongTermRules) -> Incentive:
    """The year's cap: base + continuous steps (each continuous year beyond the first
    `incentive_after_continuous_years`) + zero-claim steps (each year of the run the fund paid nothing),
    the raises at most `raise_cap_percent` of the base; after a gap, the base less any penalty."""
    run = continuity.continuous_run_before(year, rules.gap_counting_from_year)
    continuous_steps = max(len(run) - rules.incentive_after_continuous_years, 0)
    zero_claim_steps = sum(1 for earlier in run if earlier not in fund_used_in)
    raised = continuous_steps * rules.continuous_step_fen + zero_claim_steps * rules.zero_claim_step_fen
    raise_fen = Fen(min(raised, rules.raise_ceiling_fen))
    returned_after_gap = not run and any(earlier < year for earlier in continuity.enrolled)
    penalty = rules.gap_penalty_fen if returned_after_gap else 0
    return Incentive(
        insurance_year=year,
        continuous_years=len(run),
        continuous_steps=continuous_steps,
        zero_claim_steps=zero_claim_steps,
        raise_fen=raise_fen,
        cap_fen=Fen(max(rules.base_serious_illness_cap_fen + raise_fen - penalty, 0)),
    )


def incentives(
    years: Iterable[tuple[int, LongTermRules]], continuity: Continuity, fund_used_in: Collection[int]
) -> list[Incentive]:
    """The incentive of each of a person's years under the long-term mechanism, by year."""
    found = {year: incentive_for(year, continuity, fund_used_in, rules) for year, rules in years if rules.enabled}
    return [found[year] for year in sorted(found)]
