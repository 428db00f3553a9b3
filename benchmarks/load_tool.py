"""`medins load` / `make load`: plays a deadline-week mix against RUNNING services (`make run`) and says
how they held up.

    python -m benchmarks.load_tool --rate 100 --duration 60        open loop, 100 calls/s for 60 s
    python -m benchmarks.load_tool --concurrency 16 --count 5000   closed loop, 16 in flight, 5,000 calls
    python -m benchmarks.load_tool --soak                          10 min at half the maximum rate

First it registers its own residents through the registration service (in --region, which must be
selling a year on the services' clock) and waits until the tax side has assessed them. Then it plays
the mix (benchmarks/load_mix.py): enrollment checks single and in batches, payer look-ups, orders,
channel notifications (some sent again, some double payments of an order already paid) and payment
record queries. A progress line is rewritten once a second. At the end: a table per operation, the
invariants audit (ops/audit.py) once the events have settled, and under --out a JSON file of
everything and a PNG of latency over time and the percentiles.

Latency is measured from each call's scheduled send time in the open loop (a stall is charged to every
call it delays), from its send time in the closed loop. Addresses and databases come from the same
MEDINS_* settings the services read; only loopback addresses unless --allow-remote.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import ipaddress
import json
import random
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import uvloop
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from benchmarks import load_mix, load_seed
from benchmarks.drive import Latencies
from benchmarks.load_mix import Mix, OperationStats, Verdict
from benchmarks.processes import ROOT
from ops import audit
from ops import audit_checks as checks
from ops.processes import PROCESSES
from services.common import grpc_channels
from services.common.identity import InvalidIdentity
from services.common.settings import Settings

if TYPE_CHECKING:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceAsyncStub as CollectionClient
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import (
        EnrollmentCheckServiceAsyncStub as EnrollmentClient,
    )
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceAsyncStub as RegistrationClient
else:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub as CollectionClient
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import EnrollmentCheckServiceStub as EnrollmentClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceStub as RegistrationClient

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The identity the load mix is played as under mutual TLS (R35): one caller for every operation.
LOAD_IDENTITY = "loadtest:bench"
CALL_TIMEOUT = 30.0
CALLER_ID = "load-tool"
SOAK_PROBE_SECONDS, SOAK_PROBE_CONCURRENCY = 20.0, 32
RSS_SAMPLE_SECONDS = 10.0
# The order share of the mix times this is how many people are registered beforehand (each order uses
# one person's unpaid item), at most MAX_PEOPLE; while the load runs, REFILL_CHUNK more are registered
# whenever fewer than REFILL_BELOW are left to order for (as in a deadline week, registrations go on, a
# few hundred at a time from the counters rather than one large batch).
# With --people the population is fixed: when it runs out, orders are played as payer look-ups (counted).
PEOPLE_MARGIN = 1.2
MAX_PEOPLE = 3_000
REFILL_BELOW, REFILL_CHUNK = 300, 200
ASSUMED_CLOSED_LOOP_RATE = 300.0
PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0)


class UsageError(Exception):
    """A mistake in the command line or the environment: printed as one line, no traceback."""


class WrongAnswer(Exception):
    """A reply that breaks what the operation promises (e.g. a resend answered with another payment)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    loop = parser.add_mutually_exclusive_group()
    loop.add_argument("--rate", type=float, help="open loop: calls per second (default 50 unless --concurrency)")
    loop.add_argument("--concurrency", type=int, help="closed loop: calls in flight")
    parser.add_argument("--duration", type=float, default=60.0, metavar="SECONDS", help="time bound (default 60)")
    parser.add_argument("--count", type=int, help="stop after this many calls (default: no bound but time)")
    parser.add_argument(
        "--mix",
        type=str,
        help=f"operation=weight,... (default {','.join(f'{k}={v}' for k, v in load_mix.DEADLINE_WEEK.items())})",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="IDs per batch check (default 100)")
    parser.add_argument("--people", type=int, help="residents to register first (default: what the orders need)")
    parser.add_argument(
        "--region", default="320400", help="region the residents register in; must be selling (default 320400)"
    )
    parser.add_argument("--out", type=Path, help="directory for results.json and latency.png")
    parser.add_argument("--seed", type=int, help="random seed (default: new each run)")
    parser.add_argument("--audit-wait", type=float, default=120.0, metavar="SECONDS", help="for events to settle")
    parser.add_argument("--allow-remote", action="store_true", help="allow addresses other than loopback")
    parser.add_argument(
        "--identity",
        default=LOAD_IDENTITY,
        help=f"under mutual TLS (MEDINS_TLS_REQUIRED), the certificate presented (default {LOAD_IDENTITY}, "
        "one of `make certs`); the system must admit load-test callers (MEDINS_LOADTEST_CALLERS)",
    )
    parser.add_argument("--registration", help="address (default from MEDINS_REGISTRATION_PORT)")
    parser.add_argument("--enrollment", help="address (default from MEDINS_ENROLLMENT_PORT)")
    parser.add_argument("--collection", help="address (default from MEDINS_COLLECTION_PORT)")
    soak = parser.add_argument_group("soak")
    soak.add_argument("--soak", action="store_true", help="half the maximum rate for --soak-minutes, memory sampled")
    soak.add_argument("--soak-minutes", type=float, default=10.0, help="default 10")
    soak.add_argument("--soak-rate", type=float, help="skip the maximum-rate probe and soak at this rate")
    soak.add_argument("--warmup-minutes", type=float, default=1.0, help="left out of the memory verdict (default 1)")


@dataclass(frozen=True)
class Addresses:
    registration: str
    enrollment: str
    collection: str


def addresses(args: argparse.Namespace, settings: Settings) -> Addresses:
    host = "127.0.0.1" if settings.listen_host in ("0.0.0.0", "::", "") else settings.listen_host
    found = Addresses(
        registration=args.registration or f"{host}:{settings.registration_port}",
        enrollment=args.enrollment or f"{host}:{settings.enrollment_port}",
        collection=args.collection or f"{host}:{settings.collection_port}",
    )
    if not args.allow_remote:
        for address in (found.registration, found.enrollment, found.collection):
            if not is_loopback(address):
                raise UsageError(f"{address} is not a loopback address; give --allow-remote to load it anyway")
    return found


def security(settings: Settings, identity: str) -> grpc_channels.ChannelSecurity | None:
    """Plaintext, or under mutual TLS the certificate of `identity` (a usage error when it is no identity)."""
    try:
        return grpc_channels.ChannelSecurity.from_settings(settings, identity)
    except InvalidIdentity as exc:
        raise UsageError(f"--identity: {exc}") from exc


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_numbers(args: argparse.Namespace) -> Mix:
    for name in ("rate", "concurrency", "duration", "count", "batch_size", "people", "soak_minutes", "soak_rate"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive")
    if args.batch_size > 1000:
        raise UsageError("--batch-size can be at most 1000 (the service's limit)")
    try:
        return Mix.parse(args.mix) if args.mix else Mix.deadline_week()
    except ValueError as exc:
        raise UsageError(f"--mix: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Runs the load (or the soak); 0 when every call succeeded and the audit is clean."""
    try:
        mix = check_numbers(args)
        where = addresses(args, Settings())
        return uvloop.run(_main(args, mix, where))
    except UsageError as exc:
        print(f"medins load: {exc}", file=sys.stderr)  # noqa: T201 - a command-line tool
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nmedins load: interrupted", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED


def say(message: str) -> None:
    print(f"[{dt.datetime.now().astimezone():%H:%M:%S}] {message}", file=sys.stderr, flush=True)  # noqa: T201


# -- the people and what has been done to them -------------------------------------------------------


@dataclass
class Paid:
    person: load_seed.Person
    order_id: str
    notification: col.NotifyPaymentRequest
    payment_id: str
    paid_at: dt.datetime


@dataclass
class World:
    """What the played operations have made so far; each person's item is ordered and paid once."""

    people: list[load_seed.Person]
    unordered: deque[load_seed.Person]
    region: str
    refill: bool
    refilled: int = 0
    refill_errors: Counter[str] = field(default_factory=Counter)
    ordered: deque[tuple[load_seed.Person, str, dt.datetime]] = field(default_factory=deque)
    paid: list[Paid] = field(default_factory=list)
    not_yet_paid_twice: deque[Paid] = field(default_factory=deque)

    def possible(self) -> set[str]:
        found = set()
        if self.unordered:
            found.add("order")
        if self.ordered:
            found.add("pay")
        if self.paid:
            found |= {"resend", "records"}
        if self.not_yet_paid_twice:
            found.add("late_pay")
        return found


class Clients:
    def __init__(self, where: Addresses, security: grpc_channels.ChannelSecurity | None = None) -> None:
        self.channels = [
            grpc_channels.aio_channel(a, security=security)
            for a in (where.registration, where.enrollment, where.collection)
        ]
        self.registration = RegistrationClient(self.channels[0])
        self.enrollment = EnrollmentClient(self.channels[1])
        self.collection = CollectionClient(self.channels[2])

    async def ready(self, within_seconds: float = 10.0) -> None:
        names = ("registration", "enrollment", "collection")
        for name, channel in zip(names, self.channels, strict=True):
            try:
                await asyncio.wait_for(channel.channel_ready(), within_seconds)
            except TimeoutError as exc:
                raise UsageError(f"the {name} service does not answer; is the system running (`make run`)?") from exc

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(None)


class Player:
    """Plays one operation at a time on the shared world and records how it went."""

    def __init__(self, clients: Clients, world: World, mix: Mix, batch_size: int, rng: random.Random) -> None:
        self.clients, self.world, self.mix, self.batch_size, self.rng = clients, world, mix, batch_size, rng
        self.signatures = load_seed.Signers()
        self.operations: dict[str, Callable[[], Awaitable[None]]] = {
            "check": self.check,
            "batch_check": self.batch_check,
            "payer_lookup": self.payer_lookup,
            "order": self.order,
            "pay": self.pay,
            "resend": self.resend,
            "late_pay": self.late_pay,
            "records": self.records,
        }
        self.reset()

    def reset(self) -> None:
        self.stats: dict[str, OperationStats] = {}
        self.substituted: Counter[str] = Counter()
        self.in_flight = 0
        self.started_ns = time.perf_counter_ns()
        self.timeline = load_mix.Timeline()
        self.minutes: dict[int, Latencies] = {}

    async def play(self, due_ns: int | None = None) -> None:
        """One call of the mix; latency runs from `due_ns` when given (open loop), else from now."""
        wanted = self.mix.pick(self.rng.random())
        name = load_mix.resolve(wanted, self.world.possible())
        if name != wanted:
            self.substituted[f"{wanted}->{name}"] += 1
        stats = self.stats.setdefault(name, OperationStats())
        start = time.perf_counter_ns() if due_ns is None else due_ns
        self.in_flight += 1
        try:
            await self.operations[name]()
        except grpc.aio.AioRpcError as exc:
            self._failed(stats, exc.code().name)
        except WrongAnswer:
            self._failed(stats, "WRONG_ANSWER")
        except TimeoutError:
            self._failed(stats, "DEADLINE_EXCEEDED")
        else:
            now = time.perf_counter_ns()
            stats.latency.record_ns(now - start)
            elapsed = (now - self.started_ns) // 1_000_000_000
            self.timeline.record(elapsed, (now - start) // 1000)
            self.minutes.setdefault(elapsed // 60, Latencies()).record_ns(now - start)
        finally:
            self.in_flight -= 1

    def _failed(self, stats: OperationStats, code: str) -> None:
        stats.errors[code] += 1
        self.timeline.record_error((time.perf_counter_ns() - self.started_ns) // 1_000_000_000)

    # -- the operations ----------------------------------------------------------------------------

    def _someone(self) -> load_seed.Person:
        return self.rng.choice(self.world.people)

    async def check(self) -> None:
        person = self._someone()
        reply = await self.clients.enrollment.CheckEnrollment(
            chk.CheckEnrollmentRequest(
                caller_id=CALLER_ID,
                purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
                target=chk.CheckTarget(resident_id_number=person.number, insurance_year=person.year),
            ),
            timeout=CALL_TIMEOUT,
        )
        if reply.result.status == chk.CHECK_STATUS_NOT_ENROLLED:
            raise WrongAnswer(f"{person.number} registered but checked as not enrolled")

    async def batch_check(self) -> None:
        chosen = [self._someone() for _ in range(self.batch_size)]
        reply = await self.clients.enrollment.BatchCheckEnrollments(
            chk.BatchCheckEnrollmentsRequest(
                caller_id=CALLER_ID,
                purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
                targets=[chk.CheckTarget(resident_id_number=p.number, insurance_year=p.year) for p in chosen],
            ),
            timeout=CALL_TIMEOUT,
        )
        if len(reply.results) != len(chosen):
            raise WrongAnswer(f"{len(chosen)} asked, {len(reply.results)} answered")

    async def payer_lookup(self) -> None:
        person = self._someone()
        await self.clients.collection.ListPayableItems(
            col.ListPayableItemsRequest(
                payer_id_number=person.number, insured_id_number=person.number, insured_name=person.name
            ),
            timeout=CALL_TIMEOUT,
        )

    async def order(self) -> None:
        person = self.world.unordered.popleft()
        reply = await self.clients.collection.CreateOrder(
            col.CreateOrderRequest(
                request_id=str(uuid.uuid4()), payer_id_number=person.number, payable_item_ids=[person.item_id]
            ),
            timeout=CALL_TIMEOUT,
        )
        # Paid at the moment the order was made, on the services' clock (R21a: never in its future).
        self.world.ordered.append((person, reply.order.order_id, reply.order.create_time.ToDatetime(dt.UTC)))

    async def pay(self) -> None:
        person, order_id, paid_at = self.world.ordered.popleft()
        channel = load_seed.CHANNELS[len(self.world.paid) % len(load_seed.CHANNELS)]
        request = load_seed.notification(
            self.signatures, channel, order_id, person.amount_fen, paid_at, f"ld{uuid.uuid4().hex[:20]}"
        )
        reply = await self.clients.collection.NotifyPayment(request, timeout=CALL_TIMEOUT)
        # An order expired before its payment arrived is still applied: its items were unpaid (R23).
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
            raise WrongAnswer(f"payment of order {order_id} answered {reply.outcome}")
        paid = Paid(person, order_id, request, reply.payment_id, paid_at)
        self.world.paid.append(paid)
        self.world.not_yet_paid_twice.append(paid)

    async def resend(self) -> None:
        paid = self.rng.choice(self.world.paid)
        reply = await self.clients.collection.NotifyPayment(
            load_seed.delivered_again(paid.notification), timeout=CALL_TIMEOUT
        )
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED or reply.payment_id != paid.payment_id:
            raise WrongAnswer(f"resend of payment {paid.payment_id} answered {reply.payment_id} {reply.outcome}")

    async def late_pay(self) -> None:
        paid = self.world.not_yet_paid_twice.popleft()
        request = load_seed.notification(
            self.signatures,
            load_seed.CHANNELS[(len(self.world.paid) + 1) % len(load_seed.CHANNELS)],
            paid.order_id,
            paid.person.amount_fen,
            paid.paid_at,
            f"dbl{uuid.uuid4().hex[:20]}",
        )
        reply = await self.clients.collection.NotifyPayment(request, timeout=CALL_TIMEOUT)
        if reply.outcome != col.NOTIFICATION_OUTCOME_REFUND_RAISED:
            raise WrongAnswer(f"double payment of order {paid.order_id} answered {reply.outcome}")

    async def records(self) -> None:
        paid = self.rng.choice(self.world.paid)
        await self.clients.collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(payer_id_number=paid.person.number, scope=col.RECORD_SCOPE_MINE),
            timeout=CALL_TIMEOUT,
        )


# -- loops --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    seconds: float
    count: int | None
    rate: float | None = None
    concurrency: int | None = None


async def drive(player: Player, bounds: Bounds, *, on_second: Callable[[], None] | None = None) -> float:
    """Plays the mix within the bounds, with the progress line; returns the seconds it took."""
    player.reset()
    stop_at = player.started_ns + int(bounds.seconds * 1e9)
    progress = asyncio.create_task(_progress(player, bounds, on_second))
    refill = asyncio.create_task(_refill(player)) if player.world.refill else None
    try:
        if bounds.rate is not None:
            await _open_loop(
                player, bounds.rate, stop_at, load_mix.calls_planned(bounds.rate, bounds.seconds, bounds.count)
            )
        else:
            await _closed_loop(player, bounds.concurrency or 1, stop_at, bounds.count)
    finally:
        progress.cancel()
        if refill is not None:
            refill.cancel()
    elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
    player.timeline.close(1 << 62)
    sys.stderr.write("\n")
    return elapsed


async def _refill(player: Player) -> None:
    """Registers more people whenever few are left to order for; runs until cancelled."""
    world, clients = player.world, player.clients
    while True:
        if len(world.unordered) >= REFILL_BELOW:
            await asyncio.sleep(0.5)  # checked twice a second
            continue
        try:
            numbers = load_seed.new_numbers(world.region, REFILL_CHUNK, player.rng)
            registered = await load_seed.register(clients.registration, world.region, numbers)
            people = await load_seed.assessed(clients.collection, registered, within_seconds=60)
        except grpc.aio.AioRpcError as exc:
            world.refill_errors[exc.code().name] += 1
            await asyncio.sleep(1.0)  # not at once again
            continue
        world.people.extend(people)
        world.unordered.extend(people)
        world.refilled += len(people)


async def _open_loop(player: Player, rate: float, stop_at: int, planned: int | None) -> None:
    in_flight: set[asyncio.Task[None]] = set()
    k = 0
    while planned is None or k < planned:
        due = load_mix.due_ns(player.started_ns, k, rate)
        if due >= stop_at:
            break
        wait = due - time.perf_counter_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)  # the schedule itself, not a wait for anything to happen
        task = asyncio.create_task(player.play(due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
        k += 1
    await asyncio.gather(*in_flight)


async def _closed_loop(player: Player, concurrency: int, stop_at: int, count: int | None) -> None:
    budget = iter(range(count)) if count is not None else None

    async def caller() -> None:
        while time.perf_counter_ns() < stop_at:
            if budget is not None and next(budget, None) is None:
                return
            await player.play()

    await asyncio.gather(*(caller() for _ in range(concurrency)))


async def _progress(player: Player, bounds: Bounds, on_second: Callable[[], None] | None) -> None:
    while True:
        await asyncio.sleep(1.0)  # the line's refresh period
        elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
        last = player.timeline.close(int(elapsed))
        calls = sum(s.calls for s in player.stats.values())
        errors = sum(sum(s.errors.values()) for s in player.stats.values())
        line = load_mix.progress_line(
            elapsed=elapsed,
            seconds=bounds.seconds,
            calls=calls,
            errors=errors,
            rate=last["calls"] if last else 0,
            p99_ms=last.get("p99_ms") if last else None,
            in_flight=player.in_flight,
        )
        sys.stderr.write("\r" + line.ljust(100))
        sys.stderr.flush()
        if on_second is not None:
            on_second()


# -- memory of the running processes (soak) ------------------------------------------------------------


def system_processes(settings: Settings) -> dict[str, int]:
    """The processes of the system under load: a service or worker of ops/processes.py whose MEDINS_*
    databases are ours (other systems may run on the same machine). Name -> pid."""
    commands = {spec.args: spec.name for spec in PROCESSES}
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = tuple((entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[1:-1])
            env = dict(
                line.split("=", 1)
                for line in (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in line
            )
        except OSError:
            continue
        name = commands.get(argv)
        if name is None:
            continue
        if (env.get("MEDINS_TAX_DB", "medins_tax"), env.get("MEDINS_INSURANCE_DB", "medins_insurance")) != (
            settings.tax_db,
            settings.insurance_db,
        ):
            continue
        found[name if name not in found else f"{name}#{entry.name}"] = int(entry.name)
    return found


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


# -- the run -----------------------------------------------------------------------------------------


def people_needed(mix: Mix, rate: float | None, seconds: float, count: int | None) -> int:
    calls = load_mix.calls_planned(rate or ASSUMED_CLOSED_LOOP_RATE, seconds, count) or 0
    return min(MAX_PEOPLE, max(100, int(calls * mix.shares().get("order", 0.0) * PEOPLE_MARGIN) + 50))


async def _main(args: argparse.Namespace, mix: Mix, where: Addresses) -> int:
    settings = Settings()
    rng = random.Random(args.seed)
    clients = Clients(where, security(settings, args.identity))
    try:
        await clients.ready()
        soak_seconds = args.soak_minutes * 60
        seconds = soak_seconds + (0 if args.soak_rate else SOAK_PROBE_SECONDS) if args.soak else args.duration
        rate = args.rate if args.rate or args.concurrency else (None if args.soak else 50.0)
        world = await _seed(clients, args, mix, rng, rate if not args.soak else args.soak_rate, seconds)
        player = Player(clients, world, mix, args.batch_size, rng)
        results: dict[str, Any] = {
            "command": " ".join(sys.argv),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
            "addresses": where.__dict__,
            "mix": mix.shares(),
            "people": len(world.people),
        }
        if args.soak:
            results |= await _soak(player, args, settings)
        else:
            bounds = Bounds(args.duration, args.count, rate=rate, concurrency=args.concurrency)
            results["loop"] = (
                f"closed loop, {args.concurrency} in flight" if args.concurrency else f"open loop, {rate:g}/s"
            )
            say(
                f"playing the mix: {results['loop']}, at most {args.duration:g} s"
                + (f" or {args.count:,} calls" if args.count else "")
            )
            results["seconds"] = await drive(player, bounds)
        results |= _figures(player, results["seconds"])
    finally:
        await clients.close()
    sys.stdout.write(load_mix.format_table([load_mix.Row(**r) for r in results["operations"]]))
    if results["substituted"]:
        sys.stdout.write(
            "played instead (nothing to act on yet): "
            + ", ".join(f"{k} {v:,}" for k, v in results["substituted"].items())
            + "\n"
        )
    if results["people_registered_during_the_load"]:
        sys.stdout.write(f"registered during the load: {results['people_registered_during_the_load']:,} residents\n")
    results["audit"] = await _audit(settings, args.audit_wait)
    sys.stdout.write(results["audit"]["table"])
    for verdict in results.get("verdicts", []):
        sys.stdout.write(("PASS " if verdict["passed"] else "FAIL ") + verdict["text"] + "\n")
    out = args.out or ROOT / "benchmarks" / "results" / f"load-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    write_outputs(out, results)
    sys.stdout.write(f"results: {out / 'results.json'}\nplot:    {out / 'latency.png'}\n")
    failed_calls = sum(sum(r["errors"].values()) for r in results["operations"] if r["operation"] == "all")
    ok = results["audit"]["clean"] and failed_calls == 0 and all(v["passed"] for v in results.get("verdicts", []))
    return EXIT_OK if ok else EXIT_FAILED


async def _seed(
    clients: Clients, args: argparse.Namespace, mix: Mix, rng: random.Random, rate: float | None, seconds: float
) -> World:
    wanted = args.people or people_needed(mix, rate, seconds, args.count)
    say(f"registering {wanted:,} residents in region {args.region}")
    numbers = load_seed.new_numbers(args.region, wanted, rng)
    try:
        registered = await load_seed.register(clients.registration, args.region, numbers)
    except grpc.aio.AioRpcError as exc:
        raise UsageError(f"registering in region {args.region} failed: {exc.code().name} {exc.details()}") from exc
    if not registered:
        raise UsageError(f"nobody could register in region {args.region}: is it selling a year on the services' clock?")
    say(f"{len(registered):,} registered; waiting for the tax side to assess them")
    people = await load_seed.assessed(clients.collection, registered, within_seconds=120)
    if not people:
        raise UsageError("no payable item appeared within 120 s: are the relays and the assessment worker running?")
    say(f"{len(people):,} people with a payable item")
    return World(people=people, unordered=deque(people), region=args.region, refill=args.people is None)


async def _soak(player: Player, args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    rate = args.soak_rate
    found: dict[str, Any] = {}
    if rate is None:
        say(f"probing the maximum rate: closed loop, {SOAK_PROBE_CONCURRENCY} in flight, {SOAK_PROBE_SECONDS:g} s")
        probe = Bounds(SOAK_PROBE_SECONDS, None, concurrency=SOAK_PROBE_CONCURRENCY)
        probe_seconds = await drive(player, probe)
        maximum = sum(s.calls for s in player.stats.values()) / probe_seconds
        found["maximum_rate"] = round(maximum, 1)
        rate = maximum / 2
    pids = system_processes(settings)
    if not pids:
        raise UsageError("found none of the system's processes to sample (same MEDINS_* databases as this shell?)")
    say(f"soak: open loop at {rate:,.1f}/s for {args.soak_minutes:g} min; sampling the memory of {len(pids)} processes")
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
    gone: set[str] = set()  # a process that exited (and was perhaps restarted) during the soak
    next_sample = [0.0]

    def sample() -> None:
        elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
        if elapsed < next_sample[0]:
            return
        next_sample[0] = elapsed + RSS_SAMPLE_SECONDS
        for name, pid in pids.items():
            rss = rss_bytes(pid)
            if rss is None:
                gone.add(name)
            elif name not in gone:
                samples[name].append((round(elapsed, 1), rss))

    bounds = Bounds(args.soak_minutes * 60, None, rate=rate)
    found["loop"] = f"open loop, {rate:,.1f}/s (half the maximum)"
    found["seconds"] = await drive(player, bounds, on_second=sample)
    sample()
    minutes = [
        player.minutes[m].summary() if m in player.minutes else {"count": 0} for m in range(int(found["seconds"] // 60))
    ]
    warmup = args.warmup_minutes * 60
    # The drift verdict compares whole minutes after the warm-up.
    measured = [m.get("p99_ms") for i, m in enumerate(minutes) if i >= args.warmup_minutes]
    verdicts = [load_mix.memory_verdict(samples, warmup), load_mix.drift_verdict(measured)]
    if gone:
        verdicts.append(Verdict(False, "exited during the soak: " + ", ".join(sorted(gone))))
    found |= {
        "soak_rate": round(rate, 1),
        "rss_samples": samples,
        "minutes": [{k: v for k, v in m.items() if k != "hdr"} for m in minutes],
        "verdicts": [{"passed": v.passed, "text": v.text} for v in verdicts],
    }
    return found


def _figures(player: Player, seconds: float) -> dict[str, Any]:
    rows = load_mix.summary_rows(player.stats, seconds)
    return {
        "operations": [r.as_dict() for r in rows],
        "percentiles": {
            name: {f"{q:g}": player.stats[name].latency.percentile_us(q) / 1000 for q in PERCENTILES}
            for name in load_mix.OPERATIONS
            if name in player.stats and player.stats[name].ok
        },
        "substituted": dict(player.substituted.most_common()),
        "people_registered_during_the_load": player.world.refilled,
        "refill_errors": dict(player.world.refill_errors),
        "timeline": player.timeline.rows,
    }


async def _audit(settings: Settings, wait_seconds: float) -> dict[str, Any]:
    """The invariants audit, repeated until clean or `wait_seconds` pass: just after the load, events
    are still on their way (payment.confirmed to the coverage worker), which is not a violation."""
    say(f"auditing the invariants (events may take up to {wait_seconds:g} s to settle)")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            snapshot = await audit.read_snapshot(settings)
        except audit.Unreachable as exc:
            return {"clean": False, "violations": None, "table": f"audit not run: {exc}\n"}
        results = checks.run_checks(snapshot, outbox_threshold_seconds=60.0, allow_explained_dead_letters=False)
        violations = sum(len(r.violations) for r in results)
        if violations == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)  # events in flight; the audit is read again
    table = io.StringIO()
    audit.print_table(results, audit.EXAMPLES, table)
    return {"clean": violations == 0, "violations": violations, "table": table.getvalue()}


def write_outputs(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    plot(out / "latency.png", results)


def plot(path: Path, results: dict[str, Any]) -> None:
    """Latency over time (per second: p50, p99, max; calls per second on the right) and the percentile
    curve of each operation."""
    import matplotlib  # noqa: PLC0415 - loaded only when plotting, with the file-only backend

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import ScalarFormatter  # noqa: PLC0415

    fig, (over_time, curves) = plt.subplots(2, 1, figsize=(11, 9))
    timeline = [t for t in results["timeline"] if "p50_ms" in t]
    seconds = [t["second"] for t in timeline]
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
        over_time.plot(seconds, [t[key] for t in timeline], label=label, linewidth=1)
    over_time.set_yscale("log")
    over_time.set_xlabel("seconds since start")
    over_time.set_ylabel("latency per second (ms)")
    over_time.set_title(f"{results.get('loop', '')}: latency over time, all operations")
    rate_axis = over_time.twinx()
    rate_axis.plot(
        [t["second"] for t in results["timeline"]],
        [t["calls"] for t in results["timeline"]],
        color="grey",
        alpha=0.4,
        label="calls/s",
    )
    rate_axis.set_ylabel("calls per second")
    rate_axis.set_ylim(bottom=0)
    over_time.legend(loc="upper left")
    for name, values in results["percentiles"].items():
        qs = [float(q) for q in values if float(q) < 100]
        curves.plot([1 / (1 - q / 100) for q in qs], [values[f"{q:g}"] for q in qs], marker="o", label=name)
    curves.set_xscale("log")
    curves.set_yscale("log")
    curves.set_xticks([1 / (1 - q / 100) for q in PERCENTILES[:-1]], [f"p{q:g}" for q in PERCENTILES[:-1]])
    curves.set_xlabel("percentile")
    curves.set_ylabel("latency (ms)")
    curves.set_title("latency by percentile, per operation")
    curves.legend(fontsize="small")
    for axis in (over_time, curves):
        axis.yaxis.set_major_formatter(ScalarFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load_tool", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
