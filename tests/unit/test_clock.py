"""R4: time is CST from an injectable clock, shareable between processes through a file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.common.clock import CST, FileClock, FixedClock, parse_clock_line, write_clock_file


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST))
    clock.advance(dt.timedelta(seconds=1))
    assert clock.now() == dt.datetime(2024, 1, 1, tzinfo=CST)
    assert clock.now().date() == dt.date(2024, 1, 1)


def test_a_utc_instant_reads_as_the_cst_date() -> None:
    clock = FixedClock(dt.datetime(2023, 12, 31, 16, 0, tzinfo=dt.UTC))
    assert clock.now().date() == dt.date(2024, 1, 1)


def test_file_clock_follows_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, dt.datetime(2023, 11, 20, 10, tzinfo=CST))
    clock = FileClock(path)
    assert clock.now() == dt.datetime(2023, 11, 20, 10, tzinfo=CST)
    write_clock_file(path, dt.datetime(2023, 11, 20, 10, 1, 1, tzinfo=CST))
    assert clock.now() == dt.datetime(2023, 11, 20, 10, 1, 1, tzinfo=CST)


def test_running_file_clock_advances_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    start = dt.datetime(2023, 11, 20, 10, tzinfo=CST)
    write_clock_file(path, start, running=True)
    now = FileClock(path).now()
    assert start <= now < start + dt.timedelta(seconds=5)


def test_a_malformed_clock_line_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_clock_line("yesterday")
