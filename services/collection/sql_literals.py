"""A domain state written into SQL text, for the few predicates that must repeat a partial index's own.

Every state a statement reads or writes is a `$n` parameter taken from the domain's enum, except where
PostgreSQL needs the value in the text: an `ON CONFLICT ... WHERE` clause must imply the partial unique
index's predicate to find it, and a generic plan (asyncpg's prepared statements soon run on one) can use
a partial index only when the query names the index's literal. There the enum's value is spelled here,
checked to be a bare state name, so the state still comes from the domain and nothing else reaches SQL."""

from __future__ import annotations

import enum
import re

_STATE_NAME = re.compile(r"[A-Z][A-Z_]*")


def state_literal(*states: enum.StrEnum) -> str:
    """The states as quoted SQL string literals, comma-separated, in the order given."""
    for state in states:
        if not _STATE_NAME.fullmatch(state.value):
            raise ValueError(f"{state!r} is not a state name")
    return ", ".join(f"'{state.value}'" for state in states)
