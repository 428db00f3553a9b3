"""Money is an integer number of fen (分), never a float (R3)."""

from __future__ import annotations

import re
from typing import NewType

Fen = NewType("Fen", int)

# The largest amount any request or channel may state (ten billion yuan): far above any premium, far
# below where sums could overflow a bigint. Proto fields carry the same bound as a field rule.
MAX_AMOUNT_FEN = 1_000_000_000_000

_YUAN = re.compile(r"(0|[1-9][0-9]{0,13})(?:\.([0-9]{1,2}))?")


def fen_from_yuan_text(text: str) -> Fen:
    """Parses a decimal yuan amount such as "380.00" or "0.5" into fen, exactly.

    Refuses more than two decimals ("380.001"), signs, exponents and anything else a float parser
    would accept, so no amount ever passes through binary floating point.
    """
    match = _YUAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a yuan amount with at most two decimals: {text!r}")
    whole, frac = match.group(1), (match.group(2) or "").ljust(2, "0")
    return Fen(int(whole) * 100 + int(frac))


def yuan_text(amount: int) -> str:
    """Formats fen as yuan with two decimals: 38000 -> "380.00"."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 100)
    return f"{sign}{whole}.{frac:02d}"
