"""Time, always in China Standard Time (R4), read from an injectable clock.

Production processes use SystemClock. Tests and demos that need to move time across process
boundaries point every process at one file (MEDINS_CLOCK_FILE) and rewrite it: see FileClock.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.common import periods

CST = periods.CST  # the zone every caller takes from the clock module


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware, in Asia/Shanghai."""
        ...


def today(clock: Clock) -> dt.date:
    """The current calendar date in CST."""
    return clock.now().date()


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(CST)


@dataclass
class FixedClock:
    """An in-process clock that only moves when told (unit tests)."""

    current: dt.datetime

    def now(self) -> dt.datetime:
        return self.current.astimezone(CST)

    def set(self, instant: dt.datetime) -> None:
        self.current = instant

    def advance(self, delta: dt.timedelta) -> None:
        self.current = self.current + delta


@dataclass
class FileClock:
    """A clock shared by several processes through a file.

    The file holds one line: `frozen <iso-instant>` (time stands still at that instant) or
    `running <iso-instant> <unix-wall-seconds>` (time flows from that instant since that wall time).
    The file is re-read only when its modification time changes.
    """

    path: Path
    _stamp: int = field(default=-1, init=False)
    _base: dt.datetime = field(default=dt.datetime.min.replace(tzinfo=CST), init=False)
    _wall: float | None = field(default=None, init=False)

    def now(self) -> dt.datetime:
        stamp = os.stat(self.path).st_mtime_ns
        if stamp != self._stamp:
            self._base, self._wall = parse_clock_line(self.path.read_text())
            self._stamp = stamp
        if self._wall is None:
            return self._base
        elapsed = dt.datetime.now(dt.UTC).timestamp() - self._wall
        return self._base + dt.timedelta(seconds=elapsed)


def parse_clock_line(text: str) -> tuple[dt.datetime, float | None]:
    """Parses a FileClock line into (instant, wall-start or None when frozen)."""
    parts = text.split()
    if len(parts) == 2 and parts[0] == "frozen":
        return dt.datetime.fromisoformat(parts[1]).astimezone(CST), None
    if len(parts) == 3 and parts[0] == "running":
        return dt.datetime.fromisoformat(parts[1]).astimezone(CST), float(parts[2])
    raise ValueError(f"clock file must hold 'frozen <iso>' or 'running <iso> <wall>', not {text!r}")


def write_clock_file(path: Path, instant: dt.datetime, *, running: bool = False) -> None:
    """Sets a FileClock atomically (rename), so readers never see half a line."""
    line = f"frozen {instant.isoformat()}"
    if running:
        line = f"running {instant.isoformat()} {dt.datetime.now(dt.UTC).timestamp()!r}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(line + "\n")
    os.replace(tmp, path)


def clock_from_file(path: str | None) -> Clock:
    """SystemClock, or a FileClock when a clock file is configured."""
    return FileClock(Path(path)) if path else SystemClock()
