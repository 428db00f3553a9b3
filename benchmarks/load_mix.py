"""What the load tool plays, without any I/O: the deadline-week mix of operations, the open loop's send
schedule, the per-operation figures and the table they print as, and the soak's verdicts.

Kept apart from the load tool's player (benchmarks/load_player.py, which talks to the services) so that
each rule here is tested on its own (tests/unit/test_load_tool*.py)."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.drive import Latencies

# The operations, each one gRPC call. `pay` is an order's first notification; `resend` the channel
# sending one again (same payload and signature, a new request id: the original result comes back,
# R21); `late_pay` a second channel transaction for an order already paid (R23: recorded, refund raised).
OPERATIONS = ("check", "batch_check", "payer_lookup", "order", "pay", "resend", "late_pay", "records")

# The last week before a collection window closes: the tax bureau's checks dominate, payers look up what
# they owe, order and pay; channels resend some notifications and report a few double payments.
DEADLINE_WEEK: Mapping[str, int] = {
    "check": 40,
    "batch_check": 2,
    "payer_lookup": 15,
    "order": 12,
    "pay": 12,
    "resend": 6,
    "late_pay": 2,
    "records": 11,
}

# An operation that needs something nobody has made yet (an order to pay, a payment to resend) is played
# as the step before it instead, so the rate holds; the substitutions are counted and reported.
FALLBACK: Mapping[str, str] = {
    "pay": "order",
    "resend": "pay",
    "late_pay": "pay",
    "records": "payer_lookup",
    "order": "payer_lookup",
}
ALWAYS_POSSIBLE = frozenset({"check", "batch_check", "payer_lookup"})


@dataclass(frozen=True)
class Mix:
    """Operations with integer weights; `pick` maps a uniform number in [0, 1) to one of them."""

    weights: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not self.weights or sum(w for _, w in self.weights) <= 0:
            raise ValueError("the mix needs at least one operation with a positive weight")
        for name, weight in self.weights:
            if name not in OPERATIONS:
                raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}")
            if weight < 0:
                raise ValueError(f"weight of {name} must not be negative")

    @classmethod
    def deadline_week(cls) -> Mix:
        return cls(tuple(DEADLINE_WEEK.items()))

    @classmethod
    def parse(cls, text: str) -> Mix:
        """`check=40,pay=10,...`; operations left out get weight 0."""
        weights: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            if not sep or not value.strip().isdigit():
                raise ValueError(f"mix entry {part!r} is not operation=weight (a whole number)")
            if name.strip() in weights:
                raise ValueError(f"operation {name.strip()} given twice")
            weights[name.strip()] = int(value)
        return cls(tuple(weights.items()))

    @property
    def total(self) -> int:
        return sum(w for _, w in self.weights)

    def shares(self) -> dict[str, float]:
        return {name: weight / self.total for name, weight in self.weights if weight}

    def pick(self, u: float) -> str:
        if not 0.0 <= u < 1.0:
            raise ValueError("u must be in [0, 1)")
        bounds, running = [], 0
        for _, weight in self.weights:
            running += weight
            bounds.append(running)
        return self.weights[bisect.bisect_right(bounds, u * self.total)][0]


def resolve(operation: str, possible: Iterable[str]) -> str:
    """The operation actually played: `operation` if possible now, else the first possible one down its
    fallback chain (ending at a payer look-up, always possible)."""
    can = ALWAYS_POSSIBLE | set(possible)
    while operation not in can:
        operation = FALLBACK[operation]
    return operation


def due_ns(start_ns: int, k: int, rate: float) -> int:
    """When the open loop sends its k-th call (k from 0): a steady schedule, whatever the replies do."""
    return start_ns + int(k * 1e9 / rate)


def calls_planned(rate: float | None, seconds: float, count: int | None) -> int | None:
    """How many calls the open loop sends: rate x duration, capped by `count`; None when unbounded by
    either (a closed loop bounded by time only)."""
    by_time = math.floor(rate * seconds) if rate else None
    if by_time is None:
        return count
    return by_time if count is None else min(by_time, count)


# -- figures ----------------------------------------------------------------------------------------


@dataclass
class OperationStats:
    """One operation's calls: latencies of the successful ones, failures by gRPC code name."""

    latency: Latencies = field(default_factory=Latencies)
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        return self.latency.count

    @property
    def calls(self) -> int:
        return self.ok + sum(self.errors.values())


@dataclass(frozen=True)
class Row:
    operation: str
    calls: int
    ok: int
    errors: dict[str, int]
    per_second: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p99_9_ms: float | None
    max_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def summary_rows(stats: Mapping[str, OperationStats], seconds: float) -> list[Row]:
    """One row per operation that was played, in OPERATIONS order, then `all` over every call."""
    rows = []
    everything = OperationStats()
    for name in OPERATIONS:
        s = stats.get(name)
        if s is None or s.calls == 0:
            continue
        rows.append(_row(name, s, seconds))
        everything.latency.add(s.latency)
        everything.errors.update(s.errors)
    if rows:
        rows.append(_row("all", everything, seconds))
    return rows


def _row(name: str, s: OperationStats, seconds: float) -> Row:
    summary = s.latency.summary()
    return Row(
        operation=name,
        calls=s.calls,
        ok=s.ok,
        errors=dict(sorted(s.errors.items())),
        per_second=round(s.calls / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=summary.get("p50_ms"),
        p90_ms=summary.get("p90_ms"),
        p99_ms=summary.get("p99_ms"),
        p99_9_ms=summary.get("p99_9_ms"),
        max_ms=summary.get("max_ms"),
    )


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table: throughput counts every call; latencies (ms) the successful ones."""
    head = ("operation", "calls", "errors", "calls/s", "p50", "p90", "p99", "p99.9", "max")
    body = [
        (
            r.operation,
            f"{r.calls:,}",
            ", ".join(f"{code} {n:,}" for code, n in r.errors.items()) or "0",
            f"{r.per_second:,.1f}",
            *(_ms(v) for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.p99_9_ms, r.max_ms)),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]

    def fmt(line: Sequence[str]) -> str:
        cells = [line[0].ljust(widths[0]), line[1].rjust(widths[1]), line[2].ljust(widths[2])]
        cells += [cell.rjust(width) for cell, width in zip(line[3:], widths[3:], strict=True)]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(head), *(fmt(line) for line in body)]) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile of already sorted values (q in 0..100); for per-second figures,
    where an HdrHistogram per second would cost more memory than the values themselves."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Timeline:
    """Calls per second of the run, by the second they completed in: count, errors, and the p50, p99 and
    max of the successful ones. A second is closed (summarised, its values dropped) once it is over."""

    def __init__(self) -> None:
        self._open: dict[int, list[int]] = {}
        self._errors: Counter[int] = Counter()
        self.rows: list[dict[str, Any]] = []

    def record(self, second: int, latency_us: int) -> None:
        self._open.setdefault(second, []).append(latency_us)

    def record_error(self, second: int) -> None:
        self._errors[second] += 1

    def close(self, before: int) -> dict[str, Any] | None:
        """Closes every second before `before`; returns the last one closed (None if none was)."""
        last: dict[str, Any] | None = None
        for second in sorted(s for s in {*self._open, *self._errors} if s < before):
            values = sorted(self._open.pop(second, []))
            errors = self._errors.pop(second, 0)
            closed: dict[str, Any] = {"second": second, "calls": len(values) + errors, "errors": errors}
            if values:
                closed |= {
                    "p50_ms": percentile(values, 50) / 1000,
                    "p99_ms": percentile(values, 99) / 1000,
                    "max_ms": values[-1] / 1000,
                }
            self.rows.append(closed)
            last = closed
        return last


def progress_line(
    *, elapsed: float, seconds: float, calls: int, errors: int, rate: float, p99_ms: float | None, in_flight: int
) -> str:
    """The live line, rewritten in place once a second."""
    p99 = "-" if p99_ms is None else f"{p99_ms:,.1f} ms"
    return (
        f"{elapsed:5.0f}/{seconds:.0f} s  calls {calls:,}  errors {errors:,}  last second {rate:,.0f}/s  "
        f"p99 {p99}  in flight {in_flight:,}"
    )


# -- soak verdicts ----------------------------------------------------------------------------------

MEMORY_TOLERANCE = 0.10
# Latency has drifted when the last minute's p99 exceeds the first's by more than this factor, and by
# more than the absolute slack too (at a p99 of 2 ms, 1 ms more is scheduling noise, not a trend).
DRIFT_FACTOR = 1.25
DRIFT_SLACK_MS = 2.0


@dataclass(frozen=True)
class Verdict:
    passed: bool
    text: str


def memory_verdict(samples: Mapping[str, Sequence[tuple[float, int]]], warmup_seconds: float) -> Verdict:
    """Each process's resident memory (samples of (seconds, bytes)) after the warm-up stays within
    ±MEMORY_TOLERANCE of its first sample after the warm-up."""
    failures, lines = [], []
    for name, points in sorted(samples.items()):
        after = [rss for t, rss in points if t >= warmup_seconds]
        if len(after) < 2:
            failures.append(f"{name}: too few samples after the warm-up")
            continue
        base = after[0]
        low, high = min(after), max(after)
        spread = max(high / base - 1, 1 - low / base)
        lines.append(f"{name} {base / 2**20:.0f}->{after[-1] / 2**20:.0f} MiB (max {spread:+.0%})")
        if spread > MEMORY_TOLERANCE:
            failures.append(f"{name}: {low / 2**20:.0f}-{high / 2**20:.0f} MiB against {base / 2**20:.0f} MiB")
    if not samples:
        return Verdict(False, "no process sampled")
    if failures:
        return Verdict(False, "memory NOT flat: " + "; ".join(failures))
    return Verdict(True, f"memory flat within ±{MEMORY_TOLERANCE:.0%}: " + ", ".join(lines))


def drift_verdict(minute_p99_ms: Sequence[float | None]) -> Verdict:
    """Compares the first and the last minute's p99 (minutes without calls are left out)."""
    known = [v for v in minute_p99_ms if v is not None]
    if len(known) < 2:
        return Verdict(False, "fewer than two minutes measured: no drift verdict")
    first, last = known[0], known[-1]
    limit = max(first * DRIFT_FACTOR, first + DRIFT_SLACK_MS)
    if last > limit:
        return Verdict(False, f"latency drifted: p99 {first:.2f} ms in the first minute, {last:.2f} ms in the last")
    return Verdict(True, f"no latency drift: p99 {first:.2f} ms in the first minute, {last:.2f} ms in the last")
