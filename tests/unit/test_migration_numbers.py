"""Each migration has a number of its own in its folder (issue 20: two tax files and two platform files
were both numbered 0002 and 0003), and each renumbering is written down for databases migrated before it."""

from __future__ import annotations

import re
from collections import Counter

from services.common.migrations import AGENCY_MIGRATIONS, MIGRATIONS_ROOT, former_names

NUMBERED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
FOLDERS = sorted({folder for folders in AGENCY_MIGRATIONS.values() for folder in folders})


def test_every_migration_is_named_with_a_four_digit_number_and_no_number_is_used_twice() -> None:
    for folder in FOLDERS:
        names = [p.name for p in (MIGRATIONS_ROOT / folder).glob("*.sql")]
        assert names, folder
        assert all(NUMBERED.match(n) for n in names), f"{folder}: {names}"
        numbers = Counter(n[:4] for n in names)
        assert [n for n, count in numbers.items() if count > 1] == [], f"{folder} uses a number twice"
        assert sorted(int(n) for n in numbers) == list(range(1, len(numbers) + 1)), f"{folder} skips a number"


def test_each_renamed_migration_is_a_file_and_its_former_name_is_not() -> None:
    present = {f"{folder}/{p.name}" for folder in FOLDERS for p in (MIGRATIONS_ROOT / folder).glob("*.sql")}
    formers = former_names()
    assert set(formers) <= present
    assert not set(formers.values()) & present
    assert len(set(formers.values())) == len(formers)
