"""`medins load` / `make load`: plays a deadline-week mix against RUNNING services (`make run`) and says
how they held up.

    python -m benchmarks.load_tool --rate 100 --duration 60        open loop, 100 calls/s for 60 s
    python -m benchmarks.load_tool --concurrency 16 --count 5000   closed loop, 16 in flight, 5,000 calls
    python -m benchmarks.load_tool --soak                          8 min at half the sustained maximum
    python -m benchmarks.load_tool --overload                      the mix beside a CheckEnrollment flood

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
import ipaddress
import random
import sys
from collections import deque
from pathlib import Path
from typing import Any

import grpc
import uvloop

from benchmarks import load_flood, load_mix, load_seed
from benchmarks.load_mix import Mix
from benchmarks.load_player import REFILL_CHUNK, REFILL_ON_HAND, Bounds, Player, play_within
from benchmarks.load_report import audit_when_settled, figures, show, show_audit, write_outputs
from benchmarks.load_soak import SOAK_PROBE_SECONDS, soak
from benchmarks.load_world import Addresses, Clients, UsageError, World, say
from benchmarks.processes import ROOT
from services.common import grpc_channels
from services.common.identity import InvalidIdentity
from services.common.settings import Settings

__all__ = ["UsageError", "add_arguments", "run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# The identity the load mix is played as under mutual TLS (R35): one caller for every operation.
LOAD_IDENTITY = "loadtest:bench"
# The order share of the mix times this is how many people are registered beforehand (each order uses
# one person's unpaid item), at most MAX_PEOPLE; while the load runs, more are registered whenever few
# are left (benchmarks/load_player.py). With --people the population is fixed: when it runs out, orders
# are played as payer look-ups (counted).
PEOPLE_MARGIN = 1.2
MAX_PEOPLE = 3_000
ASSUMED_CLOSED_LOOP_RATE = 300.0
SOAK_PEOPLE = REFILL_ON_HAND + 100
# The soak's default length: with the probe (1 min), the set-up and the audit, `make soak` fits in 10 minutes.
SOAK_MINUTES = 8.0


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
        "--refill-chunk",
        type=int,
        default=REFILL_CHUNK,
        help=f"residents per registration step while the load runs (default {REFILL_CHUNK}; 200 was the old bursts)",
    )
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
    overload = parser.add_argument_group("overload (issue 22: fair share)")
    overload.add_argument(
        "--overload",
        action="store_true",
        help="beside the mix, one more caller floods CheckEnrollment; the polite mix's latency is reported "
        "beside the flood's (answers, shed, p50/p99)",
    )
    overload.add_argument(
        "--flood-identity",
        default=load_flood.FLOOD_IDENTITY,
        help=f"under mutual TLS, the flood's certificate (default {load_flood.FLOOD_IDENTITY})",
    )
    overload.add_argument(
        "--flood-in-flight",
        type=int,
        default=load_flood.FLOOD_IN_FLIGHT,
        help=f"the flood's calls in flight (default {load_flood.FLOOD_IN_FLIGHT})",
    )
    soak = parser.add_argument_group("soak")
    soak.add_argument("--soak", action="store_true", help="half the maximum rate for --soak-minutes, memory sampled")
    soak.add_argument(
        "--soak-minutes",
        type=float,
        default=SOAK_MINUTES,
        help=f"default {SOAK_MINUTES:g}: with the probe and the audit, `make soak` takes 10 minutes",
    )
    soak.add_argument("--soak-rate", type=float, help="skip the maximum-rate probe and soak at this rate")
    soak.add_argument("--warmup-minutes", type=float, default=1.0, help="left out of the memory verdict (default 1)")


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
    if args.overload and args.soak:
        raise UsageError("--overload and --soak are two different runs; give one")
    names = ("rate", "concurrency", "duration", "count", "batch_size", "people", "refill_chunk", "soak_minutes")
    for name in (*names, "soak_rate", "flood_in_flight"):
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
        player = Player(clients, world, mix, args.batch_size, rng, args.refill_chunk)
        results: dict[str, Any] = {
            "command": " ".join(sys.argv),
            "started_at": dt.datetime.now(dt.UTC).isoformat(),
            "addresses": where.__dict__,
            "mix": mix.shares(),
            "people": len(world.people),
        }
        if args.soak:
            results |= await soak(player, args, settings)
        else:
            bounds = Bounds(args.duration, args.count, rate=rate, concurrency=args.concurrency)
            results["loop"] = (
                f"closed loop, {args.concurrency} in flight" if args.concurrency else f"open loop, {rate:g}/s"
            )
            say(
                f"playing the mix: {results['loop']}, at most {args.duration:g} s"
                + (f" or {args.count:,} calls" if args.count else "")
            )
            if args.overload:
                # One hostile client on one connection per service, as the flood.
                flood_clients = Clients(where, security(settings, args.flood_identity), behaving=False, connections=1)
                flooded = load_flood.FloodStats()
                stop = asyncio.Event()
                say(f"flooding CheckEnrollment with {args.flood_in_flight} calls in flight beside the mix")
                flooding = asyncio.create_task(
                    load_flood.flood(flood_clients, world.people, flooded, stop, args.flood_in_flight)
                )
                try:
                    results["seconds"] = await play_within(player, bounds)
                finally:
                    stop.set()
                    await flooding
                    await flood_clients.close()
            else:
                results["seconds"] = await play_within(player, bounds)
        results |= figures(player, results["seconds"])
        if args.overload:
            results["overload"] = load_flood.report(
                flooded,
                results["operations"][-1] if results["operations"] else load_flood.NOTHING_PLAYED,
                flood_identity=args.flood_identity,
                polite_identity=args.identity,
                in_flight=args.flood_in_flight,
                tls=settings.tls_required,
            )
    finally:
        await clients.close()
    show(results)
    if "overload" in results:
        sys.stdout.write(load_flood.format_report(results["overload"]))
    results["audit"] = await audit_when_settled(settings, args.audit_wait)
    show_audit(results)
    out = args.out or ROOT / "benchmarks" / "results" / f"load-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}"
    write_outputs(out, results)
    sys.stdout.write(f"results: {out / 'results.json'}\nplot:    {out / 'latency.png'}\n")
    failed_calls = sum(sum(r["errors"].values()) for r in results["operations"] if r["operation"] == "all")
    ok = results["audit"]["clean"] and failed_calls == 0 and all(v["passed"] for v in results.get("verdicts", []))
    return EXIT_OK if ok else EXIT_FAILED


async def _seed(
    clients: Clients, args: argparse.Namespace, mix: Mix, rng: random.Random, rate: float | None, seconds: float
) -> World:
    # A soak starts with few more people than the refills keep on hand, so that they register more from
    # the probe's first seconds on: the probe measures what the machine sustains with them.
    wanted = args.people or (SOAK_PEOPLE if args.soak else people_needed(mix, rate, seconds, args.count))
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


def main(prog: str = "python -m benchmarks.load_tool") -> None:
    """The command line (`make load`; `medins load` runs it as `main("medins load")`, ops/cli/load.py)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
