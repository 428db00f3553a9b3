"""`make bench-scale` (issue 23 item 6, how cost grows): python -m benchmarks.bench_scale.

Two parts, each on databases (and a vhost) of its own, dropped at the end (also on Ctrl-C or failure):
1. The check over each size of population (default 1,000,000 then 10,000,000 people): the same database
   grown, not loaded twice (benchmarks/loader.py, persons from the previous size on); at each size the
   enrollment service and the echo server measure (a2) the bare SELECT ceiling and (c) CheckEnrollment in
   closed loops, then (d) CheckEnrollment in an open loop at half of (c)'s rate (benchmarks/enrollment_check.py's
   servers and calls).
2. Payments with each size of background volume in the tax database (payable items with their persons and
   enrollments, benchmarks/tax_volume.py, grown the same way): (b) raw PostgreSQL, (c) the same-shape
   ceiling, (d) NotifyPayment applied (benchmarks/payments_load.py's servers and calls); at the last size
   also against calls in flight (default 1, 8, 32, 128), the raw baseline on a pool of at most
   --raw-connections connections (PostgreSQL's max_connections is 100) with the other calls waiting.

Writes its section of docs/BENCHMARKS.md (between its markers), a plot (docs/benchmarks/scale.png) and the
raw figures (benchmarks/results/bench_scale-*.json). Prints an estimate at the start and progress as it goes.
The two parts can run one after the other (--skip-payments, then --skip-check): the section then shows the
skipped part from the latest earlier run that measured it, and says which.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import uvloop

from benchmarks import dataset, enrollment_check, loader, payments_load, report, tax_volume, workloads
from benchmarks.drive import CpuMeter, PhaseResult, closed_loop, open_loop
from benchmarks.enrollment_check import CheckCalls, say
from benchmarks.processes import ROOT, Children, cancel_on_sigterm, invocation
from benchmarks.scale_report import END_MARKER, START_MARKER, markdown, plot
from services.common import grpc_channels
from services.common.clock import CST
from services.common.settings import Settings

if TYPE_CHECKING:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import (
        EnrollmentCheckServiceAsyncStub as EnrollmentClient,
    )
else:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import EnrollmentCheckServiceStub as EnrollmentClient

DEFAULT_SIZES = (1_000_000, 10_000_000)
QUICK_SIZES = (20_000, 50_000)
ANSWERS_VERIFIED = 200
# For the estimate printed at the start, from docs/BENCHMARKS.md and trials here (2 cores): the check's
# loader 26,000-38,000 people/s (1M in 38 s, 10M in 264-383 s) plus its processes' start; the tax volume
# 16,000-22,000 items/s with the machine shared (load average 5-9), assumed about twice that when quiet;
# seconds to start servers, verify answers and settle; to create, migrate and seed the databases.
CHECK_PEOPLE_PER_SECOND, TAX_ITEMS_PER_SECOND = 28_000, 40_000
LOAD_START_SECONDS, OVERHEAD_SECONDS_PER_SIZE, CREATE_SECONDS = 6.0, 12.0, 6.0
ORDERS_PER_SECOND, PAYMENT_START_SECONDS = 12_000, 20.0
# Every (c) and (d) call pays an order of its own, warm-up included. The default seeds enough for the
# plan at this rate, above the fastest either phase has run here (small tables, few items).
MOST_PAYMENTS_PER_SECOND = 1_500


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    duration: float
    warmup: float
    concurrency: int
    concurrencies: tuple[int, ...]
    raw_connections: int
    orders: int
    name: str
    doc: Path
    plot: Path
    results_dir: Path
    load_workers: int
    chunk: int
    skip_check: bool
    skip_payments: bool


def _numbers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(float(v)) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"every number must be positive: {text!r}")
    return values


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", type=_numbers, help="people and payable items, ascending (default 1e6,1e7; --quick 2e4,5e4)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test: small sizes, 1 s phases, fewer orders")
    parser.add_argument("--duration", type=float, help="seconds measured per phase (default 4; --quick 1)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per phase (default 1; --quick 0.5)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight at every size (default 32)")
    parser.add_argument(
        "--concurrencies", type=_numbers, default=(1, 8, 32, 128), help="at the last size (default 1,8,32,128)"
    )
    parser.add_argument(
        "--raw-connections", type=int, default=64, help="most connections of the raw baseline (b) (default 64)"
    )
    parser.add_argument(
        "--orders",
        type=int,
        help=f"pending orders seeded for (c) and (d) (default: the plan's phases at {MOST_PAYMENTS_PER_SECOND:,}/s)",
    )
    parser.add_argument("--name", default="medins_scale", help="prefix of the databases and the vhost")
    parser.add_argument("--doc", type=Path, default=report.DOC_PATH, help="the Markdown file whose section is written")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "benchmarks" / "scale.png")
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument("--load-workers", type=int, default=2, help="check loader processes (default 2)")
    parser.add_argument("--chunk", type=int, default=20_000, help="people per COPY chunk (default 20,000)")
    parser.add_argument("--skip-check", action="store_true", help="payments only")
    parser.add_argument("--skip-payments", action="store_true", help="the check only")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if list(sizes) != sorted(set(sizes)):
        parser.error("--sizes must be ascending, without repeats (the databases grow from one to the next)")
    if max(sizes) > dataset.CAPACITY // 2:
        parser.error(f"sizes can be at most {dataset.CAPACITY // 2:,}")
    duration = args.duration if args.duration is not None else (1.0 if args.quick else 4.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    concurrencies = tuple(sorted(set(args.concurrencies)))
    # One payment row per size before the last, and one per level of calls in flight at the last.
    rows = len(sizes) - 1 + len({*concurrencies, args.concurrency})
    orders = args.orders if args.orders is not None else orders_needed(rows, duration + warmup)
    if min(duration, args.concurrency, args.raw_connections, orders, args.load_workers, args.chunk) <= 0 or warmup < 0:
        parser.error("every number must be positive")
    if args.skip_check and args.skip_payments:
        parser.error("nothing left to measure")
    return Options(
        sizes=tuple(sizes),
        duration=duration,
        warmup=warmup,
        concurrency=args.concurrency,
        concurrencies=concurrencies,
        raw_connections=args.raw_connections,
        orders=orders,
        name=args.name,
        doc=args.doc,
        plot=args.plot,
        results_dir=args.results_dir,
        load_workers=args.load_workers,
        chunk=args.chunk,
        skip_check=args.skip_check,
        skip_payments=args.skip_payments,
    )


def orders_needed(rows: int, phase_seconds: float) -> int:
    """Orders for `rows` payment rows, each a (c) and a (d) phase of `phase_seconds`, warm-up included."""
    return int(2 * rows * phase_seconds * MOST_PAYMENTS_PER_SECOND)


# -- the plan and its estimate -------------------------------------------------------------------------


def plan(options: Options) -> list[tuple[str, float]]:
    """The steps in order, each with the seconds it is expected to take on this 2-core machine."""
    phase = options.warmup + options.duration
    steps: list[tuple[str, float]] = []
    previous = 0
    if not options.skip_check:
        steps.append(("check: create the databases", CREATE_SECONDS))
        for size in options.sizes:
            load = (size - previous) / CHECK_PEOPLE_PER_SECOND + LOAD_START_SECONDS
            steps.append((f"check: load people {previous:,}..{size:,}", load))
            steps.append((f"check: 3 phases at {size:,} people", 3 * phase + OVERHEAD_SECONDS_PER_SIZE))
            previous = size
    if not options.skip_payments:
        seed = options.orders / ORDERS_PER_SECOND + PAYMENT_START_SECONDS
        steps.append((f"payments: seed {options.orders:,} orders, start servers", seed))
        previous = 0
        for n, size in enumerate(options.sizes):
            steps.append((f"payments: add items {previous:,}..{size:,}", (size - previous) / TAX_ITEMS_PER_SECOND))
            levels = _levels(options, last=n == len(options.sizes) - 1)
            steps.append((f"payments: {3 * len(levels)} phases at {size:,} items", 3 * len(levels) * phase))
            previous = size
    return steps


def _levels(options: Options, *, last: bool) -> tuple[int, ...]:
    """Calls in flight measured at a size: the sweep at the last, the usual concurrency elsewhere."""
    return tuple(sorted({*options.concurrencies, options.concurrency})) if last else (options.concurrency,)


class Progress:
    def __init__(self, steps: list[tuple[str, float]]) -> None:
        self.expected = dict(steps)
        self.total = sum(self.expected.values())
        self.started = time.monotonic()
        self.done = 0.0

    def begin(self, step: str) -> None:
        elapsed = time.monotonic() - self.started
        left = max(0.0, self.total - self.done)
        say(f"{step} (expected {self.expected.get(step, 0):.0f} s; {elapsed:.0f} s elapsed, about {left:.0f} s left)")

    def end(self, step: str) -> None:
        self.done += self.expected.get(step, 0)


# -- part 1: the check ---------------------------------------------------------------------------------


async def check_part(options: Options, children: Children, progress: Progress) -> list[dict[str, Any]]:
    s = Settings(insurance_db=f"{options.name}_check_insurance", tax_db=f"{options.name}_check_tax")
    rows: list[dict[str, Any]] = []
    progress.begin("check: create the databases")
    await loader.create_databases(s)
    progress.end("check: create the databases")
    try:
        previous = 0
        for size in options.sizes:
            step = f"check: load people {previous:,}..{size:,}"
            progress.begin(step)
            load = await loader.load_population(children, s, size, options.load_workers, options.chunk, first=previous)
            say(
                f"loaded in {load['total_seconds']:.1f} s (COPY {load['copy_seconds']:.1f} s, keys and indexes "
                f"{load['index_seconds']:.1f} s, vacuum {load['vacuum_analyze_seconds']:.1f} s)"
            )
            progress.end(step)
            step = f"check: 3 phases at {size:,} people"
            progress.begin(step)
            documents = await loader.verify_documents(s.insurance_dsn, size)
            settle = await loader.settle(s.insurance_dsn)
            rows.append(
                {
                    "people": size,
                    "load": load,
                    "documents_verified": documents,
                    "settle_seconds": settle,
                    **await check_phases(options, s, children, size),
                }
            )
            progress.end(step)
            previous = size
    finally:
        await loader.drop_databases(s)
    return rows


async def check_phases(options: Options, s: Settings, children: Children, size: int) -> dict[str, Any]:
    base = enrollment_check.server_env(s.insurance_db, s.tax_db)
    enrollment, echo, addresses = await enrollment_check.start_check_servers(children, base, s.insurance_dsn)
    try:
        await enrollment_check.wait_check_servers(enrollment, echo, addresses)
        work = enrollment_check.Workload.build(size)
        async with (
            grpc_channels.aio_channel(addresses["enrollment"]) as check_channel,
            grpc_channels.aio_channel(addresses["echo"]) as echo_channel,
        ):
            client = EnrollmentClient(check_channel)
            statuses = await workloads.verify_answers(client, work.targets[:ANSWERS_VERIFIED])
            calls = CheckCalls(work, client, echo_channel)
            me = os.getpid()
            timing = {"seconds": options.duration, "warmup": options.warmup}
            select = await _phase(
                f"a2 bare SELECT, {size:,} people",
                closed_loop(
                    calls.select,
                    concurrency=options.concurrency,
                    cpu=CpuMeter({"client": me, "echo": echo.pid}),
                    **timing,
                ),
            )
            check_meter = {"client": me, "enrollment": enrollment.pid}
            check = await _phase(
                f"c CheckEnrollment, {size:,} people",
                closed_loop(calls.check, concurrency=options.concurrency, cpu=CpuMeter(check_meter), **timing),
            )
            half = max(1.0, check["calls_per_second"] / 2)
            opened = await _phase(
                f"d open loop at {half:,.0f}/s, {size:,} people",
                open_loop(calls.check, rate=half, cpu=CpuMeter(check_meter), **timing),
            )
    finally:
        await children.stop(echo)
        await children.stop(enrollment)
    return {"statuses": statuses, "a2_select": select, "c_check": check, "d_open_half": opened}


async def _phase(label: str, running: Any) -> dict[str, Any]:
    result: PhaseResult = await running
    lat = result.latency
    say(
        f"  {label}: {result.rate:,.0f}/s p50 {lat.percentile_us(50) / 1000:.2f} ms "
        f"p99 {lat.percentile_us(99) / 1000:.2f} ms errors {result.errors}"
    )
    summary = result.summary()
    summary["latency"].pop("hdr", None)  # the JSON keeps percentiles; the histograms are not needed here
    return summary


# -- part 2: payments ----------------------------------------------------------------------------------


async def payments_part(options: Options, children: Children, progress: Progress) -> dict[str, Any]:
    s = Settings(
        insurance_db=f"{options.name}_pay_insurance",
        tax_db=f"{options.name}_pay_tax",
        amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{options.name}",
    )
    step = f"payments: seed {options.orders:,} orders, start servers"
    progress.begin(step)
    try:
        orders = await payments_load.prepare(s, options.orders)
        rows: list[dict[str, Any]] = []
        async with payments_load.payment_servers(s, children) as servers:
            progress.end(step)
            calls = payments_load.PaymentCalls(servers, orders)
            previous = 0
            for n, size in enumerate(options.sizes):
                step = f"payments: add items {previous:,}..{size:,}"
                progress.begin(step)
                fill = await tax_volume.add_items(s.tax_dsn, previous, size)
                say(
                    f"added in {fill['total_seconds']:.1f} s (INSERT {fill['insert_seconds']:.1f} s, keys and indexes "
                    f"{fill['index_seconds']:.1f} s, vacuum {fill['vacuum_analyze_seconds']:.1f} s): {fill['statuses']}"
                )
                progress.end(step)
                levels = _levels(options, last=n == len(options.sizes) - 1)
                step = f"payments: {3 * len(levels)} phases at {size:,} items"
                progress.begin(step)
                for level in levels:
                    rows.append(
                        {
                            "items": size,
                            "concurrency": level,
                            "fill": fill if level == levels[0] else None,
                            **await payment_phases(options, s, servers, calls, size, level),
                        }
                    )
                progress.end(step)
                previous = size
            relay = servers.relay
        drained = await payments_load.relay_drain(s, relay)
    finally:
        await payments_load.drop_stack(s, payments_load.vhost_of(s))
    return {"rows": rows, "relay": drained}


async def payment_phases(
    options: Options,
    s: Settings,
    servers: payments_load.PaymentServers,
    calls: payments_load.PaymentCalls,
    size: int,
    level: int,
) -> dict[str, Any]:
    timing = {"seconds": options.duration, "warmup": options.warmup}
    connections = min(level, options.raw_connections)
    at = f"{size:,} items, {level} in flight"
    raw = await _phase(
        f"b raw PostgreSQL ({connections} connections), {at}",
        payments_load.raw_write_baseline(s, level, options.duration, options.warmup, connections=connections),
    )
    relay = {"relay": servers.relay.pid}
    shape = await _phase(
        f"c same shape, {at}",
        closed_loop(calls.shape, concurrency=level, cpu=CpuMeter({"server": servers.bare.pid, **relay}), **timing),
    )
    applied = await _phase(
        f"d NotifyPayment applied, {at}",
        closed_loop(calls.pay, concurrency=level, cpu=CpuMeter({"server": servers.collection.pid, **relay}), **timing),
    )
    if calls.ran_out:
        used = (shape["calls_per_second"] + applied["calls_per_second"]) * (options.duration + options.warmup)
        # The calls after the last order failed at once, so this phase's rate is not a payment rate.
        raise payments_load.OrdersRanOut(
            f"the {calls.seeded:,} orders seeded ran out at {at}: give --orders more "
            f"(the phases here used about {used:,.0f})"
        )
    return {"raw_connections": connections, "b_raw": raw, "c_same_shape": shape, "d_applied": applied}


# -- the report ----------------------------------------------------------------------------------------


async def run(options: Options, command: str) -> dict[str, Any]:
    started = dt.datetime.now(dt.UTC)
    stamp = f"{started:%Y%m%dT%H%M%SZ}"
    steps = plan(options)
    progress = Progress(steps)
    say(
        f"bench-scale: sizes {', '.join(f'{n:,}' for n in options.sizes)}; expected about {progress.total / 60:.1f} "
        "min on this 2-core machine:"
    )
    for step, seconds in steps:
        say(f"  {seconds:6.0f} s  {step}")
    results: dict[str, Any] = {
        "benchmark": "bench_scale",
        "command": command,
        "started_at": f"{started.astimezone(CST):%Y-%m-%d %H:%M} CST ({started:%Y-%m-%d %H:%M} UTC)",
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.__dict__.items()},
        "plan": [{"step": s, "expected_seconds": round(e, 1)} for s, e in steps],
    }
    results["machine"] = await report.machine_info(Settings().admin_dsn)
    results["machine"]["background_busy_cores"] = await enrollment_check.background_load()
    children = Children(options.results_dir / "logs" / f"scale-{stamp}")
    cancel_on_sigterm()
    try:
        if not options.skip_check:
            results["check"] = await check_part(options, children, progress)
        if not options.skip_payments:
            results["payments"] = await payments_part(options, children, progress)
    finally:
        await children.stop_all()
    results["seconds"] = round(time.monotonic() - progress.started, 1)
    return _write(options, results, stamp)


def _write(options: Options, results: dict[str, Any], stamp: str) -> dict[str, Any]:
    options.results_dir.mkdir(parents=True, exist_ok=True)
    out = options.results_dir / f"bench_scale-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    _borrow_skipped_part(options, results, out)
    plot(options.plot, results)
    section = markdown(results, os.path.relpath(options.plot, options.doc.parent))
    report.update_doc(section, options.doc, start_marker=START_MARKER, end_marker=END_MARKER)
    sys.stdout.write(section)
    say(f"{results['seconds']:.0f} s in all; raw results {out}; plot {options.plot}; section in {options.doc}")
    return results


def _borrow_skipped_part(options: Options, results: dict[str, Any], out: Path) -> None:
    """With --skip-check or --skip-payments (the two parts run one after the other, each within its own
    10 minutes), the section shows the skipped part from the latest earlier run that has it, and says so.
    This run's JSON holds only what it measured."""
    for part, skipped in (("check", options.skip_check), ("payments", options.skip_payments)):
        if not skipped:
            continue
        for earlier in sorted(options.results_dir.glob("bench_scale-*.json"), reverse=True):
            found = json.loads(earlier.read_text()) if earlier != out else {}
            if found.get(part):
                results[part] = found[part]
                results.setdefault("borrowed", {})[part] = f"{found['started_at']} (`{found['command']}`)"
                say(f"the {part} part of the section comes from {earlier.name}")
                break


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    command = invocation("benchmarks.bench_scale", argv)
    try:
        uvloop.run(run(options, command))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; processes stopped, databases dropped")
        raise SystemExit(130) from None
    except payments_load.OrdersRanOut as exc:
        say(f"stopped: {exc}; processes stopped, databases dropped")
        raise SystemExit(1) from None
    except asyncpg.TooManyConnectionsError as exc:
        # Other work holds PostgreSQL's connections (max_connections); not a failure of the benchmark.
        say(f"PostgreSQL refused a connection ({exc}); fewer --raw-connections or a quieter machine")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
