"""R2: region policies per insurance year."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from medins.common.v1 import common_pb2

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange
from services.common.proto_values import channel_openings_from_proto
from services.registration.domain.model import Category, RegionPolicy, ReviewMode
from services.registration.domain.policy import governing_policy, on_sale, subsidy_for, validate_policy

D = dt.date


def anqing_2024(**changes: object) -> RegionPolicy:
    policy = RegionPolicy(
        region_code="340800",
        insurance_year=2024,
        individual_standard_fen=Fen(38000),
        fiscal_subsidy_fen=Fen(64000),
        newborn_standard_fen=Fen(0),
        category_subsidies={Category.HARDSHIP_EXTREME_POVERTY: Fen(38000)},
        collection_window=DateRange(D(2023, 9, 1), D(2023, 12, 31)),
        benefit_period=DateRange(D(2024, 1, 1), D(2024, 12, 31)),
        review_mode=ReviewMode.AUTOMATIC,
        version=1,
    )
    return replace(policy, **changes)  # type: ignore[arg-type]


def test_a_zero_newborn_standard_means_the_individual_standard() -> None:
    assert validate_policy(anqing_2024()).newborn_standard_fen == 38000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"individual_standard_fen": Fen(0)}, "policy.individual_standard_fen"),
        ({"individual_standard_fen": Fen(-1)}, "policy.individual_standard_fen"),
        ({"fiscal_subsidy_fen": Fen(-1)}, "policy.fiscal_subsidy_fen"),
        ({"category_subsidies": {Category.HARDSHIP_LOW_INCOME: Fen(38001)}}, "policy.category_subsidies"),
        ({"collection_window": DateRange(D(2023, 12, 31), D(2023, 9, 1))}, "policy.collection_window"),
        ({"benefit_period": DateRange(D(2025, 1, 1), D(2025, 12, 31))}, "policy.benefit_period"),
        ({"insurance_year": 1999}, "policy.insurance_year"),
        ({"collection_window": DateRange(D(2025, 1, 1), D(2025, 3, 1))}, "policy.collection_window"),
    ],
)
def test_invalid_policies_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_policy(anqing_2024(**changes))
    assert refused.value.field == field


def test_the_window_includes_its_first_and_last_day() -> None:
    policy = anqing_2024()
    assert on_sale([policy], D(2023, 9, 1)) == [policy]
    assert on_sale([policy], D(2023, 12, 31)) == [policy]
    assert on_sale([policy], D(2023, 8, 31)) == []
    assert on_sale([policy], D(2024, 1, 1)) == []


def test_a_subsidy_never_exceeds_the_standard() -> None:
    policy = anqing_2024(category_subsidies={Category.HARDSHIP_EXTREME_POVERTY: Fen(50000)})
    assert subsidy_for(policy, Category.HARDSHIP_EXTREME_POVERTY, Fen(38000)) == 38000
    assert subsidy_for(policy, Category.MINOR, Fen(38000)) == 0


def test_the_governing_policy_is_the_latest_year_whose_window_opened() -> None:
    y2023 = anqing_2024(
        insurance_year=2023,
        collection_window=DateRange(D(2022, 9, 1), D(2022, 12, 31)),
        benefit_period=DateRange(D(2023, 1, 1), D(2023, 12, 31)),
        review_mode=ReviewMode.MANUAL,
    )
    y2024 = anqing_2024()
    assert governing_policy([y2023, y2024], D(2023, 8, 31), "340800") is y2023
    assert governing_policy([y2023, y2024], D(2023, 9, 1), "340800") is y2024
    assert governing_policy([y2024], D(2020, 1, 1), "340800") is y2024


def test_a_region_without_policy_cannot_register() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        governing_policy([], D(2023, 9, 1), "340800")
    assert refused.value.reason == "REGION_HAS_NO_POLICY"


def test_same_terms_ignores_version_and_time() -> None:
    assert anqing_2024(version=1).same_terms(anqing_2024(version=7))
    assert not anqing_2024().same_terms(anqing_2024(individual_standard_fen=Fen(38001)))


def test_a_channel_opening_outside_the_sale_is_refused_and_an_unnamed_channel_too() -> None:
    """R49: a channel opens between the window's start and the benefit period's end."""
    with pytest.raises(InvalidArgument) as refused:
        validate_policy(anqing_2024(channel_openings={"WECHAT": D(2023, 8, 1)}))
    assert refused.value.field == "policy.channel_openings"
    assert validate_policy(anqing_2024(channel_openings={"WECHAT": D(2023, 11, 1)})).channel_openings
    with pytest.raises(InvalidArgument) as unnamed:
        channel_openings_from_proto([common_pb2.ChannelOpening()], field="policy.channel_openings")
    assert unnamed.value.field == "policy.channel_openings[0].channel"
