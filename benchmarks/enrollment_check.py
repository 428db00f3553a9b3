"""Benchmark of the enrollment check (python -m benchmarks.enrollment_check; make bench-enrollment).

Loads a synthetic population into its own databases, starts the real enrollment and registration
services and a bare gRPC echo server as separate processes, and measures from this process:
(a) echo baseline, (b) the raw asyncpg lookup, (c) CheckEnrollment closed loop, (d) CheckEnrollment
open loop at a steady rate, (e) BatchCheckEnrollments of 1,000 IDs, (f) the open loop while batch
registrations are written, (g) one 10,000-row batch registration. Writes the summary into
docs/BENCHMARKS.md and the raw numbers under benchmarks/results/. Every process it started is stopped
and (unless --keep) its databases are dropped, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import uvloop
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from benchmarks import dataset, echo_server, load_seed, loader, report, workloads
from benchmarks.drive import Call, CpuMeter, Latencies, PhaseResult, closed_loop, open_loop
from benchmarks.processes import (
    ROOT,
    Child,
    Children,
    cancel_on_sigterm,
    invocation,
    machine_cpu_ticks,
    poll_until,
    wait_serving,
)
from ops import demo_data
from ops.free_ports import free_port
from ops.processes import PROCESSES
from services.common import grpc_channels
from services.common.clock import CST, write_clock_file
from services.common.settings import Settings

if TYPE_CHECKING:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import (
        EnrollmentCheckServiceAsyncStub as EnrollmentClient,
    )
    from medins.registration.v1.registration_service_pb2_grpc import (
        RegistrationServiceAsyncStub as RegistrationClient,
    )
else:
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import EnrollmentCheckServiceStub as EnrollmentClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceStub as RegistrationClient

INSURANCE_DB = "medins_bench_insurance"
TAX_DB = "medins_bench_tax"
CALL_TIMEOUT = 30.0
REQUEST_POOL = 50_000
ANSWERS_VERIFIED = 1_000
BATCH_POOL = 20
BIG_BATCH_ROWS, BIG_BATCH_CALLS = 10_000, 5


SPECS = {spec.name: spec for spec in PROCESSES}


@dataclass(frozen=True)
class Options:
    rows: int
    duration: float
    concurrency: int
    rate: int
    half_rate: bool
    skip_load: bool
    keep: bool
    load_workers: int
    chunk: int
    writer_rate: int = 1_000

    @property
    def warmup(self) -> float:
        return min(5.0, max(1.0, self.duration / 4))


@dataclass
class Servers:
    enrollment: Child
    registration: Child
    echo: Child
    writer: Child  # started with the servers, waits for the mixed phase
    addresses: dict[str, str]
    registration_clock: str


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="people to load (default 10,000,000)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per phase (default 20)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight in closed loops (default 32)")
    parser.add_argument("--rate", type=int, default=1_000, help="checks per second of the open loops (default 1000)")
    parser.add_argument(
        "--half-rate", action="store_true", help="open loops at half of (c)'s closed-loop rate instead of --rate"
    )
    parser.add_argument(
        "--skip-load", action="store_true", help="reuse the loaded benchmark database (its size is detected; no --rows)"
    )
    parser.add_argument("--keep", action="store_true", help="do not drop the benchmark databases at the end")
    parser.add_argument("--load-workers", type=int, default=2, help="loader processes (default 2)")
    parser.add_argument("--chunk", type=int, default=20_000, help="people per COPY chunk (default 20,000)")
    parser.add_argument(
        "--writer-rate",
        type=int,
        default=1_000,
        help="registrations per second written during phase f (default 1,000, issue 12's condition; 0: unpaced)",
    )
    args = parser.parse_args(argv)
    if min(args.rows, args.duration, args.concurrency, args.rate, args.load_workers, args.chunk) <= 0:
        parser.error("every number must be positive")
    if args.rows > dataset.CAPACITY // 2:  # half: the other half supplies the valid IDs nobody holds
        parser.error(f"--rows can be at most {dataset.CAPACITY // 2:,}")
    return Options(
        rows=args.rows,
        duration=args.duration,
        concurrency=args.concurrency,
        rate=args.rate,
        half_rate=args.half_rate,
        skip_load=args.skip_load,
        keep=args.keep,
        load_workers=args.load_workers,
        chunk=args.chunk,
        writer_rate=args.writer_rate,
    )


def say(message: str) -> None:
    print(f"[{dt.datetime.now().astimezone():%H:%M:%S}] {message}", flush=True)  # noqa: T201 - a command-line tool


# -- databases and processes ---------------------------------------------------------------------------


async def prepare_data(options: Options, settings: Settings, children: Children) -> tuple[int, dict[str, Any]]:
    """Returns the number of loaded people and what the load did."""
    if options.skip_load:
        try:
            rows = await loader.loaded_rows(settings.insurance_dsn)
        except asyncpg.InvalidCatalogNameError:
            rows = 0
        if rows == 0:
            raise SystemExit(f"--skip-load: {INSURANCE_DB} holds no benchmark population; run without it first")
        say(f"reusing {INSURANCE_DB} with {rows:,} people")
        return rows, {"reused": True, "rows": rows}
    say(f"creating {INSURANCE_DB} and {TAX_DB}, loading {options.rows:,} people")
    await loader.create_databases(settings)
    load = await loader.load_population(children, settings, options.rows, options.load_workers, options.chunk)
    say(
        f"loaded in {load['total_seconds']:.1f} s (COPY {load['copy_seconds']:.1f} s, "
        f"indexes {load['index_seconds']:.1f} s, vacuum+analyze {load['vacuum_analyze_seconds']:.1f} s)"
    )
    return options.rows, load


def registration_clock(log_dir: Path) -> tuple[dict[str, str], str]:
    """The registration service runs on the system clock while Changzhou sells a year (so every new row
    gets a payable year, as in production); outside that window, on a clock file that runs from a day in
    the demo policy's latest window, so the benchmark writes the same kind of rows any day it is run."""
    today = dt.datetime.now(CST).date()
    policies = [p for p in demo_data.policies(today) if p.region_code == workloads.WRITER_REGION]
    if any(today in p.collection_window for p in policies):
        return {}, "system clock"
    latest = max(policies, key=lambda p: p.insurance_year)
    instant = dt.datetime.combine(latest.collection_window.start + dt.timedelta(days=60), dt.time(10), tzinfo=CST)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "registration.clock"
    write_clock_file(path, instant, running=True)
    return {"MEDINS_CLOCK_FILE": str(path)}, f"clock file running from {instant.isoformat()}"


async def start_servers(children: Children, options: Options, first_writer_person: int, check_dsn: str) -> Servers:
    """The three servers and the (waiting) registration writer, all before this process opens any gRPC
    channel: forking later, with gRPC's threads running, is what gRPC warns against."""
    base = server_env(INSURANCE_DB, TAX_DB)
    enrollment, echo, addresses = await start_check_servers(children, base, check_dsn)
    registration_port = free_port()
    addresses["registration"] = f"127.0.0.1:{registration_port}"
    clock_env, clock = registration_clock(children.log_dir)
    # Each server at the niceness it runs at in the system (ops/processes.py): registration's batches
    # yield the cores to the check (R16).
    registration = await children.start(
        "registration",
        ["-m", "services.registration"],
        {**base, **clock_env, **SPECS["registration"].env, "MEDINS_REGISTRATION_PORT": str(registration_port)},
    )
    writer_args = ["--address", addresses["registration"], "--first-person", str(first_writer_person)]
    writer_args += ["--seconds", str(options.warmup + options.duration), "--rows-per-second", str(options.writer_rate)]
    writer = await children.start("writer", ["-m", "benchmarks.writer", *writer_args], base, pipes=True)
    await wait_check_servers(enrollment, echo, addresses)
    await wait_serving(registration, addresses["registration"])
    await wait_ready_line(writer)
    return Servers(enrollment, registration, echo, writer, addresses, clock)


def server_env(insurance_db: str, tax_db: str) -> dict[str, str]:
    base = {**os.environ, "MEDINS_INSURANCE_DB": insurance_db, "MEDINS_TAX_DB": tax_db, "MEDINS_LOG_LEVEL": "WARNING"}
    # One client stands for every hospital: not held to one connection's share of streams (issue 22).
    base.setdefault("MEDINS_GRPC_STREAMS_PER_CONNECTION", "1024")
    return base


async def start_check_servers(
    children: Children, base: dict[str, str], check_dsn: str
) -> tuple[Child, Child, dict[str, str]]:
    """The enrollment service and the echo server, which also serves the bare SELECT ceiling
    (CheckSelect) on the same database; not yet waited for (wait_check_servers)."""
    load_seed.ensure_channel_keys()  # the echo server's same-shape ceilings verify notifications
    ports = {"enrollment": free_port(), "echo": free_port()}
    enrollment = await children.start(
        "enrollment", ["-m", "services.enrollment"], {**base, "MEDINS_ENROLLMENT_PORT": str(ports["enrollment"])}
    )
    echo_args = ["-m", "benchmarks.echo_server", "--port", str(ports["echo"]), "--check-dsn", check_dsn]
    echo = await children.start("echo", echo_args, base)
    return enrollment, echo, {name: f"127.0.0.1:{port}" for name, port in ports.items()}


async def wait_check_servers(enrollment: Child, echo: Child, addresses: dict[str, str]) -> None:
    await wait_serving(enrollment, addresses["enrollment"])
    await wait_echo(echo, addresses["echo"])


async def wait_echo(child: Child, address: str, within_seconds: float = 60.0) -> None:
    """The echo server has no health service: it is ready when it echoes."""
    async with grpc_channels.aio_channel(address) as channel:
        echo = channel.unary_unary(echo_server.METHOD, request_serializer=None, response_deserializer=None)

        async def echoes() -> bool:
            child.check_running()
            try:
                return bool(await echo(b"ping", timeout=2) == b"ping")
            except grpc.aio.AioRpcError:
                return False

        await poll_until(echoes, within_seconds=within_seconds, what="echo server")


async def wait_ready_line(child: Child, within_seconds: float = 60.0) -> None:
    assert child.process.stdout is not None
    line = await asyncio.wait_for(child.process.stdout.readline(), timeout=within_seconds)
    if line.strip() != b"ready":
        raise RuntimeError(f"{child.name} did not start:\n{child.log_tail()}")


async def background_load(seconds: float = 2.0) -> float:
    """Cores busy while this run's processes sit idle: other work on the machine, which the figures share
    the cores with."""
    before = machine_cpu_ticks()
    await asyncio.sleep(seconds)  # a measuring interval, not a wait for anything to happen
    after = machine_cpu_ticks()
    return round((os.cpu_count() or 1) * (after[0] - before[0]) / max(1, after[1] - before[1]), 2)


# -- the phases ----------------------------------------------------------------------------------------


@dataclass
class Workload:
    """Everything sent during the phases, built before any of them."""

    targets: list[workloads.Target]
    requests: list[chk.CheckEnrollmentRequest]
    batches: list[chk.BatchCheckEnrollmentsRequest]

    @classmethod
    def build(cls, rows: int) -> Workload:
        rng = random.Random(20261123)
        chosen = workloads.targets(rows, REQUEST_POOL, rng)
        batches = [workloads.batch_request(workloads.targets(rows, 1000, rng)) for _ in range(BATCH_POOL)]
        return cls(chosen, [workloads.check_request(t) for t in chosen], batches)


class CheckCalls:
    """The calls the phases make, each taking the k-th request of the workload: the echo, the bare SELECT
    ceiling (a2), CheckEnrollment and BatchCheckEnrollments."""

    def __init__(self, work: Workload, client: EnrollmentClient, echo_channel: grpc.aio.Channel) -> None:
        self.work, self.client = work, client
        self._echo = echo_channel.unary_unary(
            echo_server.METHOD,
            request_serializer=chk.CheckEnrollmentRequest.SerializeToString,
            response_deserializer=chk.CheckEnrollmentRequest.FromString,
        )
        self._select = echo_channel.unary_unary(
            echo_server.CHECK_SELECT,
            request_serializer=chk.CheckEnrollmentRequest.SerializeToString,
            response_deserializer=None,
        )

    def _request(self, k: int) -> chk.CheckEnrollmentRequest:
        return self.work.requests[k % len(self.work.requests)]

    async def echo(self, k: int) -> object:
        return await self._echo(self._request(k), timeout=CALL_TIMEOUT)

    async def select(self, k: int) -> object:
        return await self._select(self._request(k), timeout=CALL_TIMEOUT)

    async def check(self, k: int) -> object:
        return await self.client.CheckEnrollment(self._request(k), timeout=CALL_TIMEOUT)

    async def batch(self, k: int) -> object:
        batches = self.work.batches
        return await self.client.BatchCheckEnrollments(batches[k % len(batches)], timeout=CALL_TIMEOUT)


async def measure(options: Options, settings: Settings, rows: int, servers: Servers) -> dict[str, Any]:
    work = Workload.build(rows)
    pids = {"client": os.getpid(), **{c.name: c.pid for c in (servers.enrollment, servers.registration, servers.echo)}}
    phases: dict[str, Any] = {}
    async with (
        grpc_channels.aio_channel(servers.addresses["enrollment"]) as check_channel,
        grpc_channels.aio_channel(servers.addresses["echo"]) as echo_channel,
        grpc_channels.aio_channel(servers.addresses["registration"]) as registration_channel,
    ):
        client = EnrollmentClient(check_channel)
        say(f"verifying {ANSWERS_VERIFIED} answers of the real service")
        statuses = await workloads.verify_answers(client, work.targets[:ANSWERS_VERIFIED])
        calls = CheckCalls(work, client, echo_channel)
        echo_call, select_call, check_call, batch_call = calls.echo, calls.select, calls.check, calls.batch
        closed = _closed(options)
        phases["echo"] = await _phase("a echo", closed(echo_call, options.concurrency, _only(pids, "client", "echo")))
        phases["select_ceiling"] = await _phase(
            "a2 bare SELECT ceiling", closed(select_call, options.concurrency, _only(pids, "client", "echo"))
        )
        numbers = [t.number for t in work.targets]
        phases["asyncpg"] = await _phase("b asyncpg", _asyncpg_phase(settings, numbers, options, pids, reset=True))
        phases["asyncpg_no_reset"] = await _phase(
            "b2 asyncpg, no reset on release", _asyncpg_phase(settings, numbers, options, pids, reset=False)
        )
        check_pids = _only(pids, "client", "enrollment")
        phases["check"] = await _phase("c check", closed(check_call, options.concurrency, check_pids))
        if options.half_rate:  # the condition: half the check's maximum rate
            options = replace(options, rate=max(1, round(phases["check"]["calls_per_second"] / 2)))
        phases["check_open"] = await _phase("d open loop", _open(options, check_call, check_pids))
        for n in (1, 2):
            phases[f"batch_check_c{n}"] = await _phase(f"e batch x{n}", closed(batch_call, n, check_pids))
        phases["check_open_with_writes"], phases["writer"] = await _mixed_phase(options, servers, check_call, pids)
        phases["batch_registration_10k"] = await _big_batch(
            RegistrationClient(registration_channel), client, settings, phases["writer"]["next_person"]
        )
    return {"phases": phases, "statuses": statuses, "open_loop_rate": options.rate}


def _closed(options: Options) -> Callable[[Call, int, dict[str, int]], Awaitable[PhaseResult]]:
    def start(call: Call, concurrency: int, pids: dict[str, int]) -> Awaitable[PhaseResult]:
        return closed_loop(
            call, concurrency=concurrency, seconds=options.duration, warmup=options.warmup, cpu=CpuMeter(pids)
        )

    return start


def _open(options: Options, call: Call, pids: dict[str, int]) -> Awaitable[PhaseResult]:
    return open_loop(call, rate=options.rate, seconds=options.duration, warmup=options.warmup, cpu=CpuMeter(pids))


async def _phase(label: str, running: Awaitable[PhaseResult]) -> dict[str, Any]:
    say(f"{label} ...")
    result = await running
    lat = result.latency
    say(
        f"{label}: {result.rate:,.0f}/s p50 {lat.percentile_us(50) / 1000:.2f} ms "
        f"p99 {lat.percentile_us(99) / 1000:.2f} ms errors {result.errors}"
    )
    return result.summary()


def _only(pids: dict[str, int], *names: str) -> dict[str, int]:
    return {name: pids[name] for name in names}


async def _no_reset(conn: asyncpg.Connection) -> None:
    """For phase b2 only: skips the query asyncpg's pool sends on every release by default."""


async def _asyncpg_phase(
    settings: Settings, numbers: list[str], options: Options, pids: dict[str, int], *, reset: bool
) -> PhaseResult:
    """The service's lookup straight from this process: a pool of the service's size, same SQL; with
    `reset`, asyncpg's default release (as in the service), else without its reset query."""
    pool = await asyncpg.create_pool(
        settings.insurance_dsn,
        min_size=settings.db_pool_max,
        max_size=settings.db_pool_max,
        reset=None if reset else _no_reset,  # None: asyncpg's default, Connection.reset()
    )
    try:

        async def lookup(k: int) -> object:
            return await pool.fetchval(
                "SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", numbers[k % len(numbers)]
            )

        return await _closed(options)(lookup, options.concurrency, _only(pids, "client"))
    finally:
        await pool.close()


async def _mixed_phase(
    options: Options, servers: Servers, check_call: Call, pids: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The open loop of checks while the writer registers batches for the same length of time."""
    writer = servers.writer
    assert writer.process.stdin is not None and writer.process.stdout is not None
    writer.process.stdin.write(b"go\n")
    await writer.process.stdin.drain()
    meter = {**_only(pids, "client", "enrollment", "registration"), "writer": writer.pid}
    mixed = await _phase("f open loop with writes", _open(options, check_call, meter))
    out = await writer.process.stdout.read()
    if await writer.process.wait() != 0:
        raise RuntimeError(f"writer failed:\n{writer.log_tail()}")
    report_line: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    say(f"f writer: {report_line['rows_per_second']:,.0f} rows/s over {report_line['calls']} calls")
    return mixed, report_line


async def _big_batch(
    registration: RegistrationClient, check: EnrollmentClient, settings: Settings, first_person: int
) -> dict[str, Any]:
    """One batch of 10,000 rows sent as 5 calls of 2,000 with the same batch id, timed from the first
    send to the last reply (the requests are built beforehand: the client's work is not the service's)."""
    say("g 10,000-row batch registration ...")
    per_call = BIG_BATCH_ROWS // BIG_BATCH_CALLS
    batch_id = f"bench-10k-{uuid.uuid4()}"
    requests = [
        workloads.registration_request(
            batch_id, workloads.registration_rows(first_person + c * per_call, per_call, c * per_call + 1)
        )
        for c in range(BIG_BATCH_CALLS)
    ]
    calls = Latencies()
    registered = 0
    started = time.perf_counter_ns()
    for request in requests:
        sent = time.perf_counter_ns()
        reply = await registration.BatchRegisterResidents(request, timeout=300)
        calls.record_ns(time.perf_counter_ns() - sent)
        registered += workloads.registered(reply)
    seconds = (time.perf_counter_ns() - started) / 1e9
    numbers = [row.resident_id_number for request in requests for row in request.rows]
    say(f"g: {seconds:.2f} s for {registered:,} registered rows")
    return {
        "rows": BIG_BATCH_ROWS,
        "calls": BIG_BATCH_CALLS,
        "rows_registered": registered,
        "seconds": round(seconds, 3),
        "slowest_call_seconds": calls.percentile_us(100) / 1e6,
        "payable_years": await _payable_years(settings, numbers),
        "last_row_check_status": await _status_of(check, numbers[-1]),
    }


async def _payable_years(settings: Settings, numbers: list[str]) -> int:
    conn = await asyncpg.connect(settings.insurance_dsn)
    try:
        count = await conn.fetchval(
            """SELECT count(*) FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
               WHERE e.resident_id_number = ANY($1::text[])""",
            numbers,
        )
    finally:
        await conn.close()
    return int(count)


async def _status_of(check: EnrollmentClient, number: str) -> str:
    """A freshly registered person must be visible to the check at once (same-transaction read model)."""
    reply = await check.CheckEnrollment(
        workloads.check_request(workloads.Target(None, number, dataset.LAST_YEAR)), timeout=CALL_TIMEOUT
    )
    return chk.CheckStatus.Name(reply.result.status)


# -- the run -------------------------------------------------------------------------------------------


async def run(options: Options, command: str) -> dict[str, Any]:
    settings = Settings(insurance_db=INSURANCE_DB, tax_db=TAX_DB)
    started_at = dt.datetime.now(dt.UTC)
    stamp = f"{started_at:%Y%m%dT%H%M%SZ}"
    children = Children(report.RESULTS_DIR / "logs" / stamp)
    cancel_on_sigterm()
    found: dict[str, Any] = {"command": command, "started_at": started_at}
    try:
        found["machine"] = await report.machine_info(settings.admin_dsn)
        rows, found["load"] = await prepare_data(options, settings, children)
        say("verifying loaded check documents against the check projection")
        found["documents"] = await loader.verify_documents(settings.insurance_dsn, rows)
        say("settling: checkpoint, then the check table and its key read into the page cache")
        found["settle_seconds"] = await loader.settle(settings.insurance_dsn)
        say("starting the enrollment, registration and echo servers and the registration writer")
        first_writer_person = await workloads.next_writer_person(settings.insurance_dsn)
        servers = await start_servers(children, options, first_writer_person, settings.insurance_dsn)
        found["machine"]["background_busy_cores"] = await background_load()
        found.update(await measure(options, settings, rows, servers))
        found["registration_clock"] = servers.registration_clock
    finally:
        say("stopping processes" + ("" if options.keep else " and dropping the benchmark databases"))
        await children.stop_all()
        if not options.keep:
            await loader.drop_databases(settings)
    results = _results(options, settings, rows, found, children.log_dir)
    json_path = report.write_json(results, stamp)
    section = report.markdown(results)
    report.update_doc(section)
    print(section, flush=True)  # noqa: T201 - the summary
    say(f"raw results: {json_path.relative_to(ROOT)}; summary: docs/BENCHMARKS.md")
    return results


def _results(options: Options, settings: Settings, rows: int, found: dict[str, Any], log_dir: Path) -> dict[str, Any]:
    started: dt.datetime = found["started_at"]
    results: dict[str, Any] = {
        "benchmark": "enrollment_check",
        "command": found["command"],
        "started_at": f"{started.astimezone(CST):%Y-%m-%d %H:%M} CST ({started:%Y-%m-%d %H:%M} UTC)",
        "machine": found["machine"],
        "settings": {
            "rows": rows,
            "duration": options.duration,
            "warmup": options.warmup,
            "concurrency": options.concurrency,
            "rate": found["open_loop_rate"],
            "load_workers": options.load_workers,
            "skip_load": options.skip_load,
            "registration_clock": found["registration_clock"],
            "service_pool_size": settings.db_pool_max,
        },
        "load": found["load"],
        "settle_seconds": found["settle_seconds"],
        "verification": {"documents": found["documents"], "answers": ANSWERS_VERIFIED, "statuses": found["statuses"]},
        "phases": found["phases"],
        "logs": str(log_dir.relative_to(ROOT)),
    }
    results["targets"] = [j.as_dict() for j in report.judge(results)]
    results["limits"] = report.limits_text(results)
    return results


def main(argv: list[str] | None = None) -> None:
    options = parse_options(argv)
    command = invocation("benchmarks.enrollment_check", argv)
    try:
        uvloop.run(run(options, command))
    except (KeyboardInterrupt, asyncio.CancelledError):
        say("interrupted; processes stopped")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
