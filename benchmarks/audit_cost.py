"""What recording every check before answering it costs (issue 17, R35): `python -m benchmarks.audit_cost`.

The enrollment check used to append its audit record to a list and write the list 0.2 s later (a kill -9
lost the answered lookups of that window); it now awaits the record's commit (services/enrollment/audit.py,
group commit). This measures that wait alone, on a database of its own: the latency a check gains and the
records per second one writer commits, with 1 and with 32 checks in flight, next to the old append
measured in the same run. Prints a table; writes nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

from benchmarks.drive import Latencies
from services.common.db import create_pool
from services.common.migrations import drop_database, ensure_database, migrate_database
from services.common.settings import Settings
from services.enrollment.audit import AuditLog

DATABASE = "medins_bench_audit_cost"
NUMBERS = ["340802200511250012"]


async def _measure(record: object, in_flight: int, calls: int) -> tuple[Latencies, float]:
    latencies = Latencies()
    gate = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with gate:
            started = time.perf_counter_ns()
            await record()  # type: ignore[operator]
            latencies.record_ns(time.perf_counter_ns() - started)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return latencies, calls / (time.perf_counter() - began)


def _ms(latencies: Latencies, percentile: float) -> str:
    return f"{latencies.percentile_us(percentile) / 1000:.3f}"


async def main(calls: int) -> None:
    settings = Settings(insurance_db=DATABASE)
    await drop_database(settings.admin_dsn, DATABASE)
    await ensure_database(settings.admin_dsn, DATABASE)
    await migrate_database(settings.insurance_dsn, "insurance")
    pool = await create_pool(settings.insurance_dsn, min_size=2, max_size=10)
    audit, stop = AuditLog(), asyncio.Event()
    writer = asyncio.create_task(audit.run(pool, stop))
    await asyncio.sleep(0)
    pending: list[tuple[object, ...]] = []
    now = dt.datetime.now(dt.UTC)

    async def appended() -> None:  # the old record: a list append, written 0.2 s later
        pending.append((now, "tax:bench", "", "TAX_COLLECTION", NUMBERS, "c"))

    async def committed() -> None:
        await audit.record(now, "tax:bench", "", "TAX_COLLECTION", NUMBERS, "c")

    print("| record | in flight | records/s | p50 ms | p99 ms | max ms |")  # noqa: T201
    print("|---|---:|---:|---:|---:|---:|")  # noqa: T201
    try:
        ways = (("appended, written 0.2 s later (before)", appended), ("committed first (now)", committed))
        for name, record in ways:
            for in_flight in (1, 32):
                await _measure(record, in_flight, calls // 10)  # warm-up
                latencies, rate = await _measure(record, in_flight, calls)
                print(  # noqa: T201
                    f"| {name} | {in_flight} | {rate:,.0f} | {_ms(latencies, 50)} | {_ms(latencies, 99)} | "
                    f"{_ms(latencies, 100)} |"
                )
    finally:
        stop.set()
        await writer
        await pool.close()
        await drop_database(settings.admin_dsn, DATABASE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5_000, help="records per measurement (default 5,000)")
    asyncio.run(main(parser.parse_args().calls))
