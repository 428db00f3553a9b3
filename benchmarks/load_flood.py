"""The load tool's overload mode (`--overload`, issue 22, R16, R35): beside the polite mix, one more
caller floods CheckEnrollment with many calls in flight, a hostile client that sends its next call the
moment one is answered or refused, whatever it is told. The report sets the polite caller's latency
beside the flood's: what each was answered, how much of the flood was shed, p50 and p99.

Shares follow the authenticated identity: under mutual TLS the flood presents its own certificate
(`--flood-identity`, default a hospital of `make certs`) and the polite mix its own (`--identity`). In
plaintext mode every call is the one development identity, so the flood and the mix share one share:
the report says so."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from benchmarks import load_seed
from benchmarks.drive import Latencies
from benchmarks.load_world import Clients

FLOOD_IDENTITY = "hospital:demo-hospital"
FLOOD_IN_FLIGHT = 256
CALL_TIMEOUT = 30.0
CALLER_ID = "load-flood"
# The polite mix's `all` row when it played nothing.
NOTHING_PLAYED: dict[str, Any] = {"ok": 0, "errors": {}, "p50_ms": None, "p99_ms": None}


@dataclass
class FloodStats:
    """The flood's calls: latencies of its answers, its refusals beyond its share, any other failure."""

    latency: Latencies = field(default_factory=Latencies)
    shed: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def flood(
    clients: Clients, people: Sequence[load_seed.Person], stats: FloodStats, stop: asyncio.Event, in_flight: int
) -> None:
    """`in_flight` senders of CheckEnrollment until `stop` is set."""
    rng = random.Random(22)

    async def sender() -> None:
        while not stop.is_set():
            person = rng.choice(people)
            started = time.perf_counter_ns()
            try:
                await clients.enrollment.CheckEnrollment(
                    chk.CheckEnrollmentRequest(
                        caller_id=CALLER_ID,
                        purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
                        target=chk.CheckTarget(resident_id_number=person.number, insurance_year=person.year),
                    ),
                    timeout=CALL_TIMEOUT,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    stats.shed += 1
                else:
                    stats.errors[exc.code().name] += 1
            else:
                stats.latency.record_ns(time.perf_counter_ns() - started)

    await asyncio.gather(*(sender() for _ in range(in_flight)))


def report(
    stats: FloodStats, polite: dict[str, Any], *, flood_identity: str, polite_identity: str, in_flight: int, tls: bool
) -> dict[str, Any]:
    """The overload figures: the polite caller (the mix's `all` row) beside the flood."""
    summary = stats.latency.summary()
    return {
        "tls": tls,
        "polite": {
            "identity": polite_identity if tls else "(the development identity)",
            "answers": polite["ok"],
            "shed": polite["errors"].get("RESOURCE_EXHAUSTED", 0),
            "errors": {k: v for k, v in polite["errors"].items() if k != "RESOURCE_EXHAUSTED"},
            "p50_ms": polite["p50_ms"],
            "p99_ms": polite["p99_ms"],
        },
        "flood": {
            "identity": flood_identity if tls else "(the development identity)",
            "in_flight": in_flight,
            "answers": stats.latency.count,
            "shed": stats.shed,
            "errors": dict(sorted(stats.errors.items())),
            "p50_ms": summary.get("p50_ms"),
            "p99_ms": summary.get("p99_ms"),
        },
    }


def format_report(overload: dict[str, Any]) -> str:
    """The two rows printed after the mix's table: the polite caller, then the flood."""
    head = ("caller", "identity", "answers", "shed", "errors", "p50", "p99")
    body = [
        (
            who,
            row["identity"],
            f"{row['answers']:,}",
            f"{row['shed']:,}",
            ", ".join(f"{code} {n:,}" for code, n in row["errors"].items()) or "0",
            *("-" if row[k] is None else f"{row[k]:,.2f}" for k in ("p50_ms", "p99_ms")),
        )
        for who, row in (
            ("polite", overload["polite"]),
            (f"flood x{overload['flood']['in_flight']}", overload["flood"]),
        )
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [head, *body]
    ]
    note = "" if overload["tls"] else "plaintext: the flood and the mix are one identity and share one share\n"
    return "overload (latencies in ms):\n" + "\n".join(lines) + "\n" + note
