"""The one driver of every load generator: a closed loop (fixed number of calls outstanding) and an open
loop (calls sent on a fixed schedule whatever the replies do). Its senders (`in_parallel`,
`on_schedule`) serve the benchmarks' measured phases here (`closed_loop`, `open_loop`: warm-up, CPU,
latencies in HdrHistograms at microsecond resolution) and the load tool's player
(benchmarks/load_player.py), which keeps its own statistics per operation."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from benchmarks.processes import machine_cpu_ticks, process_cpu_seconds

# One call: given a running number, send the request it picks and wait for the reply.
Call = Callable[[int], Awaitable[object]]
MAX_LATENCY_US = 120_000_000
_ERRORS = (Exception,)


class Latencies:
    """An HdrHistogram of microseconds, 3 significant digits, up to two minutes."""

    def __init__(self) -> None:
        self._histogram = HdrHistogram(1, MAX_LATENCY_US, 3)

    def record_ns(self, nanoseconds: int) -> None:
        self._histogram.record_value(min(max(1, nanoseconds // 1000), MAX_LATENCY_US))

    def add(self, other: Latencies) -> None:
        """Adds another histogram's values to this one."""
        self._histogram.add(other._histogram)

    @property
    def count(self) -> int:
        return int(self._histogram.get_total_count())

    def percentile_us(self, percentile: float) -> int:
        return int(self._histogram.get_value_at_percentile(percentile))

    def summary(self) -> dict[str, Any]:
        """Percentiles in milliseconds (rounded to the microsecond) and the encoded histogram."""
        if self.count == 0:
            return {"count": 0}
        return {
            "count": self.count,
            "p50_ms": self.percentile_us(50) / 1000,
            "p90_ms": self.percentile_us(90) / 1000,
            "p99_ms": self.percentile_us(99) / 1000,
            "p99_9_ms": self.percentile_us(99.9) / 1000,
            "max_ms": int(self._histogram.get_max_value()) / 1000,
            "mean_ms": round(float(self._histogram.get_mean_value()) / 1000, 3),
            "hdr": self._histogram.encode().decode(),
        }


@dataclass
class CpuMeter:
    """CPU used during a phase: by named processes, and by the whole machine (whatever runs on it)."""

    pids: dict[str, int]
    _start: dict[str, float] = field(default_factory=dict)
    _machine: tuple[int, int] = (0, 0)
    _wall_ns: int = 0

    def start(self) -> None:
        self._start = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_cpu_ticks()
        self._wall_ns = time.perf_counter_ns()

    def stop(self) -> dict[str, float]:
        """Cores used on average: 1.0 is one core busy the whole time."""
        wall = (time.perf_counter_ns() - self._wall_ns) / 1e9
        busy, total = machine_cpu_ticks()
        now = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        # A process that exited during the phase reads as 0: left out rather than shown negative.
        used = {f"{n}_cores": round((now[n] - self._start[n]) / wall, 2) for n in now if now[n] >= self._start[n]}
        cores = os.cpu_count() or 1
        used["machine_busy_cores"] = round(cores * (busy - self._machine[0]) / max(1, total - self._machine[1]), 2)
        return used


@dataclass
class Errors:
    """Failed calls (warm-up included): how many, and the first one to show."""

    count: int = 0
    first: str = ""

    def add(self, error: Exception) -> None:
        self.count += 1
        if not self.first:
            self.first = f"{type(error).__name__}: {error}"[:300]


@dataclass
class PhaseResult:
    calls: int
    errors: int
    seconds: float
    latency: Latencies
    cpu: dict[str, float] = field(default_factory=dict)
    send_lag: Latencies | None = None
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "calls": self.calls,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "calls_per_second": round(self.rate, 1),
            "latency": self.latency.summary(),
            "cpu": self.cpu,
        }
        if self.send_lag is not None:
            found["send_lag"] = self.send_lag.summary()
        if self.first_error:
            found["first_error"] = self.first_error
        return found


async def in_parallel(
    call: Callable[[], Awaitable[None]], *, concurrency: int, until_ns: int, count: int | None = None
) -> None:
    """The closed loop's senders: `concurrency` callers, each making its next call as soon as the previous
    one returned, until `until_ns` (time.perf_counter_ns) or `count` calls in all."""
    budget = iter(range(count)) if count is not None else None

    async def caller() -> None:
        while time.perf_counter_ns() < until_ns:
            if budget is not None and next(budget, None) is None:
                return
            await call()

    await asyncio.gather(*(caller() for _ in range(concurrency)))


async def on_schedule(
    send: Callable[[int, int], Coroutine[Any, Any, None]],
    *,
    rate: float,
    begin_ns: int,
    calls: int,
    before: Callable[[int], None] | None = None,
) -> None:
    """The open loop's sender: call k (from 0) is `send(k, due_ns)` at begin_ns + k/rate (at once when the
    sender is late), never waiting for earlier replies; returns when every call has answered. `before(k)`
    runs before call k waits for its time (e.g. to start a meter at the end of a warm-up)."""
    in_flight: set[asyncio.Task[None]] = set()
    for k in range(calls):
        if before is not None:
            before(k)
        due = begin_ns + int(k * 1e9 / rate)
        wait = due - time.perf_counter_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)  # the schedule itself, not a wait for anything to happen
        task = asyncio.create_task(send(k, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)


async def closed_loop(call: Call, *, concurrency: int, seconds: float, warmup: float, cpu: CpuMeter) -> PhaseResult:
    """`concurrency` callers, each sending its next call as soon as the previous reply arrives. Calls
    started during the warm-up are not recorded; recording covers exactly `seconds` after it."""
    latency, errors = Latencies(), Errors()
    counter = iter(range(1 << 62))
    begin = time.perf_counter_ns()
    measure_from = begin + int(warmup * 1e9)
    measure_until = measure_from + int(seconds * 1e9)

    async def meter() -> None:
        await asyncio.sleep(warmup)  # the measurement's schedule, not a wait for anything to happen
        cpu.start()

    async def timed() -> None:
        sent = time.perf_counter_ns()
        try:
            await call(next(counter))
        except _ERRORS as error:
            errors.add(error)
            return
        done = time.perf_counter_ns()
        if sent >= measure_from and done <= measure_until:
            latency.record_ns(done - sent)

    await asyncio.gather(meter(), in_parallel(timed, concurrency=concurrency, until_ns=measure_until))
    usage = cpu.stop()
    return PhaseResult(latency.count, errors.count, seconds, latency, usage, first_error=errors.first)


async def open_loop(call: Call, *, rate: float, seconds: float, warmup: float, cpu: CpuMeter) -> PhaseResult:
    """Calls sent at a steady `rate`, each at its scheduled time (or at once when the sender is late),
    never waiting for earlier replies. Latency runs from the scheduled time, so a stall is charged to
    every call it delayed (no coordinated omission). The sender's own lateness is recorded apart."""
    latency, send_lag, errors = Latencies(), Latencies(), Errors()
    # At least one measured call: the meter starts at the first of them (a tiny rate x a short phase).
    warmup_calls, measured_calls = int(warmup * rate), max(1, int(seconds * rate))

    async def one(k: int, due: int) -> None:
        measured = k >= warmup_calls
        if measured:
            send_lag.record_ns(time.perf_counter_ns() - due)
        try:
            await call(k)
        except _ERRORS as error:
            errors.add(error)
            return
        if measured:
            latency.record_ns(time.perf_counter_ns() - due)

    def start_meter(k: int) -> None:
        if k == warmup_calls:
            cpu.start()

    await on_schedule(
        one, rate=rate, begin_ns=time.perf_counter_ns(), calls=warmup_calls + measured_calls, before=start_meter
    )
    usage = cpu.stop()
    return PhaseResult(latency.count, errors.count, seconds, latency, usage, send_lag, first_error=errors.first)
