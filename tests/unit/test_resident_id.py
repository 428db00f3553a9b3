"""R1: GB 11643 resident ID numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.common.resident_id import check_character, mask, parse_resident_id
from tests.factories import resident_id

TODAY = dt.date(2023, 11, 20)

bodies = st.builds(
    lambda region, birth, seq: f"{region:06d}{birth:%Y%m%d}{seq:03d}",
    st.integers(110000, 659999),
    st.dates(dt.date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)


def _satisfies_iso_7064(number: str) -> bool:
    """The standard's own definition, independent of any lookup table: counting positions from the
    right (the check character is position 1, X = 10), sum(a_i * 2^(i-1)) mod 11 == 1."""
    values = [10 if c == "X" else int(c) for c in reversed(number)]
    return sum(v * pow(2, i, 11) for i, v in enumerate(values)) % 11 == 1


@given(bodies)
def test_the_check_character_satisfies_iso_7064_mod_11_2(body: str) -> None:
    assert _satisfies_iso_7064(body + check_character(body))


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_known_numbers_agree_with_the_definition(number: str) -> None:
    assert _satisfies_iso_7064(number)
    assert check_character(number[:17]) == number[17]


def test_the_standards_published_example_is_valid() -> None:
    parsed = parse_resident_id("11010519491231002X", today=TODAY)
    assert parsed.birth_date == dt.date(1949, 12, 31)
    assert parsed.region_prefix == "110105"


def test_lowercase_check_character_is_accepted_as_upper() -> None:
    assert parse_resident_id("11010519491231002x", today=TODAY).number == "11010519491231002X"


@given(bodies)
def test_an_id_with_its_computed_check_character_is_accepted(body: str) -> None:
    parsed = parse_resident_id(body + check_character(body), today=TODAY)
    assert parsed.number == body + check_character(body)
    assert parsed.birth_date.strftime("%Y%m%d") == body[6:14]


@given(bodies, st.sampled_from("0123456789X"))
def test_any_other_check_character_is_rejected(body: str, wrong: str) -> None:
    assume(wrong != check_character(body))
    with pytest.raises(InvalidArgument) as refused:
        parse_resident_id(body + wrong, today=TODAY)
    assert refused.value.reason == "INVALID_RESIDENT_ID"
    assert refused.value.field == "resident_id_number"


@given(bodies, st.integers(0, 16), st.integers(1, 9))
def test_every_single_digit_error_is_detected(body: str, position: int, shift: int) -> None:
    valid = body + check_character(body)
    corrupted = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1 :]
    with pytest.raises(InvalidArgument):
        parse_resident_id(corrupted, today=TODAY)


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("3408021980010112", "17 digits"),
        ("34080219800101123A", "17 digits"),
        ("A40802198001011234", "17 digits"),
        ("", "17 digits"),
    ],
)
def test_malformed_numbers_say_what_shape_is_expected(number: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_resident_id(number, today=TODAY)
    assert why in refused.value.message


def test_an_impossible_birth_date_is_rejected() -> None:
    body = "34080219990230123"  # 30 February
    with pytest.raises(InvalidArgument) as refused:
        parse_resident_id(body + check_character(body), today=TODAY)
    assert "impossible birth date" in refused.value.message
    assert refused.value.message_zh.endswith("出生日期不存在")


def test_a_future_birth_date_is_rejected_but_today_is_fine() -> None:
    born_today = resident_id(TODAY)
    assert parse_resident_id(born_today, today=TODAY).birth_date == TODAY
    with pytest.raises(InvalidArgument) as refused:
        parse_resident_id(resident_id(TODAY + dt.timedelta(days=1)), today=TODAY)
    assert "future" in refused.value.message


def test_the_error_names_the_field_given() -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse_resident_id("123", today=TODAY, field="payer_id_number")
    assert refused.value.field == "payer_id_number"


def test_age_counts_full_years_to_the_birthday() -> None:
    parsed = parse_resident_id(resident_id(dt.date(2005, 11, 21)), today=TODAY)
    assert parsed.age_on(dt.date(2023, 11, 20)) == 17
    assert parsed.age_on(dt.date(2023, 11, 21)) == 18


def test_mask_keeps_region_prefix_and_last_four() -> None:
    assert mask("340102199001011234") == "340102********1234"
    assert mask("short") == "*****"
