"""The one driver (benchmarks/drive.py): its two senders, and the measured phases the benchmarks build on
them (issue 20: the load tool's player runs on the same senders instead of a copy of its own)."""

from __future__ import annotations

import asyncio
import time

from benchmarks import drive
from benchmarks.drive import CpuMeter


async def test_on_schedule_sends_each_call_at_its_time_without_waiting_for_replies() -> None:
    sent: list[tuple[int, int]] = []
    before: list[int] = []
    release = asyncio.Event()

    async def send(k: int, due: int) -> None:
        sent.append((k, due))
        if k < 4:
            await release.wait()  # the first replies hang until the last call was sent
        else:
            release.set()

    begin = time.perf_counter_ns()
    await drive.on_schedule(send, rate=1000.0, begin_ns=begin, calls=5, before=before.append)
    assert [k for k, _ in sent] == [0, 1, 2, 3, 4] and before == [0, 1, 2, 3, 4]
    assert [due for _, due in sent] == [begin + k * 1_000_000 for k in range(5)]


async def test_in_parallel_stops_at_its_count_or_its_deadline() -> None:
    calls = 0
    most, running = 0, 0

    async def call() -> None:
        nonlocal calls, most, running
        calls += 1
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1

    far = time.perf_counter_ns() + 10**10
    await drive.in_parallel(call, concurrency=3, until_ns=far, count=20)
    assert calls == 20 and most == 3
    calls = 0
    await drive.in_parallel(call, concurrency=3, until_ns=time.perf_counter_ns())
    assert calls == 0


async def test_the_measured_phases_count_calls_and_errors_after_the_warm_up() -> None:
    async def call(k: int) -> object:
        if k % 10 == 9:
            raise RuntimeError("a refused call")
        return k

    closed = await drive.closed_loop(call, concurrency=2, seconds=0.1, warmup=0.05, cpu=CpuMeter({}))
    assert closed.calls > 0 and closed.errors > 0 and closed.first_error == "RuntimeError: a refused call"
    opened = await drive.open_loop(call, rate=200.0, seconds=0.1, warmup=0.05, cpu=CpuMeter({}))
    # 10 warm-up calls, 20 measured: every tenth of all 30 fails, two of them measured.
    assert (opened.calls, opened.errors) == (18, 3)
    assert opened.send_lag is not None and opened.send_lag.count == 20
