"""R25, R47: two years of records at most, chosen by fee period (费款所属期); R26: four minors under 16."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.records import (
    FeePeriod,
    PaymentDates,
    add_years,
    check_linkable_minor,
    fee_period,
    record_period,
    record_selection,
)
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


def test_the_default_fee_period_is_the_year_in_progress_and_the_next() -> None:
    # In Anqing's window of 2023 a payment is for 2024; the one made in 2022's window is for 2023.
    assert fee_period(None, None, TODAY) == FeePeriod(2023, 2024)
    assert record_selection(None, None, TODAY) == FeePeriod(2023, 2024)


def test_two_benefit_years_are_allowed_and_three_are_not() -> None:
    """Yili: "修改费款所属期进行查询。查询范围不能超过两年"."""
    assert fee_period(2021, 2022, TODAY) == FeePeriod(2021, 2022)
    assert fee_period(2019, 2019, TODAY) == FeePeriod(2019, 2019)
    with pytest.raises(InvalidArgument) as refused:
        fee_period(2021, 2023, TODAY)
    error = refused.value
    assert (error.reason, error.message_zh) == ("PERIOD_TOO_LONG", "查询范围不能超过两年")
    assert error.field == "fee_period.end_year"
    assert error.metadata["latest_end_year"] == "2022"


def test_a_fee_period_backwards_or_half_given_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as backwards:
        fee_period(2024, 2023, TODAY)
    assert (backwards.value.reason, backwards.value.field) == ("INVALID_PERIOD", "fee_period.end_year")
    with pytest.raises(InvalidArgument) as no_start:
        fee_period(0, 2023, TODAY)
    assert no_start.value.field == "fee_period.start_year"
    with pytest.raises(InvalidArgument) as no_end:
        fee_period(2023, 0, TODAY)
    assert no_end.value.field == "fee_period.end_year"


def test_payment_dates_still_choose_records_and_both_at_once_are_refused() -> None:
    dates = (D(2022, 1, 1), D(2023, 1, 1))
    assert record_selection(None, dates, TODAY) == PaymentDates(*dates)
    with pytest.raises(InvalidArgument):
        record_selection(None, (D(2021, 1, 1), D(2023, 12, 31)), TODAY)
    with pytest.raises(InvalidArgument) as both:
        record_selection((2022, 2023), dates, TODAY)
    assert (both.value.reason, both.value.field) == ("PERIOD_AMBIGUOUS", "fee_period")


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
