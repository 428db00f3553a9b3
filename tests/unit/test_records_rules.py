"""R25: two years of records at most; R26: four minors under 16."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.records import add_years, check_linkable_minor, record_period
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.resident_id import ResidentId, parse_resident_id
from tests.factories import resident_id

D = dt.date
TODAY = D(2023, 11, 20)


def test_the_default_is_the_last_two_years() -> None:
    assert record_period(None, None, TODAY) == (D(2021, 11, 20), TODAY)


def test_exactly_two_years_is_allowed_and_a_day_more_is_not() -> None:
    assert record_period(D(2021, 1, 1), D(2023, 1, 1), TODAY) == (D(2021, 1, 1), D(2023, 1, 1))
    with pytest.raises(InvalidArgument) as refused:
        record_period(D(2021, 1, 1), D(2023, 1, 2), TODAY)
    assert (refused.value.reason, refused.value.message_zh) == ("PERIOD_TOO_LONG", "查询范围不能超过两年")


def test_three_years_is_refused_and_backwards_is_invalid() -> None:
    with pytest.raises(InvalidArgument):
        record_period(D(2021, 1, 1), D(2023, 12, 31), TODAY)
    with pytest.raises(InvalidArgument) as refused:
        record_period(D(2023, 1, 2), D(2023, 1, 1), TODAY)
    assert refused.value.reason == "INVALID_PERIOD"


def test_a_leap_day_start_ends_on_28_february() -> None:
    assert add_years(D(2024, 2, 29), 2) == D(2026, 2, 28)
    assert record_period(D(2024, 2, 29), D(2026, 2, 28), TODAY)[1] == D(2026, 2, 28)


def minor(birth: D) -> ResidentId:
    return parse_resident_id(resident_id(birth), today=TODAY)


def test_a_fifteen_year_old_links_and_a_sixteen_year_old_does_not() -> None:
    check_linkable_minor(minor(D(2007, 11, 21)), 0, TODAY)
    with pytest.raises(FailedPrecondition) as refused:
        check_linkable_minor(minor(D(2007, 11, 20)), 0, TODAY)
    assert refused.value.reason == "MINOR_TOO_OLD"


def test_a_fifth_minor_is_refused() -> None:
    check_linkable_minor(minor(D(2015, 1, 1)), 3, TODAY)
    with pytest.raises(FailedPrecondition) as refused:
        check_linkable_minor(minor(D(2015, 1, 1)), 4, TODAY)
    assert refused.value.reason == "MINOR_LIMIT_REACHED"
