"""Assessment (核定), R17: what a person pays for one insurance year and fee type."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.collection.domain.model import FeeType, ItemStatus
from services.common.money import Fen
from services.common.periods import DateRange


class InvalidAssessment(ValueError):
    """The figures cannot be assessed (no retry will fix them)."""


@dataclass(frozen=True)
class AssessmentBasis:
    insurance_year: int
    fee_type: FeeType
    standard_fen: Fen
    subsidy_fen: Fen
    policy_version: int
    collection_window: DateRange
    coverage: DateRange
    newborn_current_year: bool
    payable_until: dt.date
    # R49: channel → the first day it takes payments for the year.
    channel_opens: tuple[tuple[str, dt.date], ...] = ()


@dataclass(frozen=True)
class Assessment:
    basis: AssessmentBasis
    amount_fen: Fen
    status: ItemStatus


def assess(basis: AssessmentBasis) -> Assessment:
    """Amount = standard − category subsidy, in integer fen. A fully subsidised item is settled by the
    subsidy and owes nothing."""
    if basis.standard_fen <= 0:
        raise InvalidAssessment(f"standard must be positive fen, got {basis.standard_fen}")
    if not 0 <= basis.subsidy_fen <= basis.standard_fen:
        raise InvalidAssessment(f"subsidy {basis.subsidy_fen} outside 0..{basis.standard_fen}")
    amount = Fen(basis.standard_fen - basis.subsidy_fen)
    return Assessment(basis, amount, ItemStatus.SETTLED_BY_SUBSIDY if amount == 0 else ItemStatus.UNPAID)


def conflict_is_early(other_item_status: ItemStatus) -> bool:
    """A new item collides with a live item of the same person, year and fee type held by another
    enrollment. An unpaid one will be cancelled by that enrollment's stop, which has not arrived yet:
    the event is early and is retried, never skipped (R17a). A paid or subsidised one means the year is
    settled already: nobody pays twice (R23)."""
    return other_item_status is ItemStatus.UNPAID
