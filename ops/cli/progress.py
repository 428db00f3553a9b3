"""A progress bar on standard error for long commands (batch upload), with no dependency: redrawn in
place on a terminal, one line per step otherwise (logs, pipes, tests)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, total: int, unit: str, stream: TextIO | None = None) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()

    def line(self, done: int) -> str:
        """[##########--------------------] 2000/6000 rows  33%"""
        fraction = done / self.total if self.total else 1.0
        filled = round(WIDTH * fraction)
        return f"[{'#' * filled}{'-' * (WIDTH - filled)}] {done}/{self.total} {self.unit} {fraction:4.0%}"

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = total
        if self._tty:
            self.stream.write("\r" + self.line(done))
        else:
            self.stream.write(self.line(done) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
