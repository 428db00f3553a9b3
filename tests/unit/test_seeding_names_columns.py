"""Test data is seeded through factories that name their columns (tests/seeding.py, issue 20): an
`INSERT INTO t VALUES (…)` breaks silently when a migration adds or reorders a column."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
WITHOUT_COLUMNS = re.compile(r"INSERT\s+INTO\s+\w+\s+(?:VALUES|SELECT)\b", re.IGNORECASE)


def test_no_test_inserts_rows_without_naming_their_columns() -> None:
    found = [
        f"{path.relative_to(TESTS)}:{text[: m.start()].count(chr(10)) + 1}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for text in [path.read_text()]
        for m in WITHOUT_COLUMNS.finditer(text)
    ]
    assert not found, f"seed through tests/seeding.py (or name the columns): {found}"


def test_the_check_finds_an_insert_without_columns() -> None:
    assert WITHOUT_COLUMNS.search('"INSERT INTO insured_persons VALUES ($1, $2)"')
    assert not WITHOUT_COLUMNS.search('"INSERT INTO insured_persons (resident_id_number) VALUES ($1)"')
