"""R17: assessment arithmetic in integer fen."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collection.domain.assessment import AssessmentBasis, InvalidAssessment, assess
from services.collection.domain.model import FeeType, ItemStatus
from services.common.money import Fen
from services.common.periods import DateRange

D = dt.date


def basis(standard: int, subsidy: int) -> AssessmentBasis:
    return AssessmentBasis(
        insurance_year=2024,
        fee_type=FeeType.RESIDENT_MEDICAL,
        standard_fen=Fen(standard),
        subsidy_fen=Fen(subsidy),
        policy_version=1,
        collection_window=DateRange(D(2023, 9, 1), D(2023, 12, 31)),
        coverage=DateRange(D(2024, 1, 1), D(2024, 12, 31)),
        newborn_current_year=False,
        payable_until=D(2023, 12, 31),
    )


@given(st.integers(1, 10**9).flatmap(lambda s: st.tuples(st.just(s), st.integers(0, s))))
def test_amount_is_standard_minus_subsidy_exactly(pair: tuple[int, int]) -> None:
    standard, subsidy = pair
    result = assess(basis(standard, subsidy))
    assert isinstance(result.amount_fen, int)
    assert result.amount_fen == standard - subsidy
    assert result.amount_fen + subsidy == standard
    assert (result.status is ItemStatus.SETTLED_BY_SUBSIDY) == (subsidy == standard)


def test_anqing_figures() -> None:
    assert assess(basis(38000, 0)).amount_fen == 38000
    assert assess(basis(38000, 38000)).status is ItemStatus.SETTLED_BY_SUBSIDY


@pytest.mark.parametrize(("standard", "subsidy"), [(0, 0), (-1, 0), (38000, -1), (38000, 38001)])
def test_impossible_figures_are_refused(standard: int, subsidy: int) -> None:
    with pytest.raises(InvalidAssessment):
        assess(basis(standard, subsidy))
