"""R3: money is integer fen; yuan text converts exactly or not at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.money import fen_from_yuan_text, yuan_text


@pytest.mark.parametrize(
    ("text", "fen"),
    [("380.00", 38000), ("380", 38000), ("0.5", 50), ("0.01", 1), (" 290.00 ", 29000), ("1020.10", 102010)],
)
def test_yuan_text_converts_exactly(text: str, fen: int) -> None:
    assert fen_from_yuan_text(text) == fen


@pytest.mark.parametrize("text", ["380.001", "-1.00", "1e3", "380.", ".5", "NaN", "0x10", "", "01.00", "3 80"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        fen_from_yuan_text(text)


@given(st.integers(0, 10**15))
def test_formatting_and_parsing_round_trip(fen: int) -> None:
    assert fen_from_yuan_text(yuan_text(fen)) == fen


def test_float_rounding_traps_do_not_apply() -> None:
    # 0.1 + 0.2 != 0.3 in floats; in fen it is exact.
    assert fen_from_yuan_text("0.10") + fen_from_yuan_text("0.20") == fen_from_yuan_text("0.30")
