"""The registration writer of the mixed phase: BatchRegisterResidents calls of new people for a given
time (python -m benchmarks.writer --address A --first-person K --seconds S [--rows-per-second R]), at a
paced rate (issue 12: the check's p99 while registrations are written at 1,000 rows/s) or, with rate 0,
one call after the other as fast as the service takes them.

A process of its own, so that building and parsing 2,000-row messages never stalls the check client's
send schedule. It connects, prints `ready`, waits for a line on its standard input (the start of the
phase; it is started early, before the client has gRPC threads that a later fork would upset), writes
for the given time and prints one JSON line with what it did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from typing import TYPE_CHECKING

import uvloop

from benchmarks import workloads
from benchmarks.drive import Latencies
from services.common import grpc_channels

if TYPE_CHECKING:
    from medins.registration.v1.registration_service_pb2_grpc import (
        RegistrationServiceAsyncStub as RegistrationClient,
    )
else:
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceStub as RegistrationClient

ROWS_PER_CALL = 2_000


def call_size(rows_per_second: int) -> int:
    """Rows per call: five calls a second when paced (a steady trickle, as counters upload), the
    largest chunk the service takes when not."""
    return min(ROWS_PER_CALL, max(1, rows_per_second // 5)) if rows_per_second else ROWS_PER_CALL


async def write(address: str, first_person: int, seconds: float, rows_per_second: int = 0) -> dict[str, object]:
    latency = Latencies()
    per_call = call_size(rows_per_second)
    person, rows_registered, calls = first_person, 0, 0
    async with grpc_channels.aio_channel(address) as channel:
        await channel.channel_ready()
        client = RegistrationClient(channel)
        print("ready", flush=True)  # noqa: T201 - the parent waits for this line
        await asyncio.to_thread(sys.stdin.readline)
        started = time.perf_counter_ns()
        deadline = started + int(seconds * 1e9)
        while time.perf_counter_ns() < deadline:
            if rows_per_second:
                # Call k is due k * per_call / rate seconds in; a late call goes at once, none is skipped.
                due = started + int(calls * per_call / rows_per_second * 1e9)
                await asyncio.sleep(max(0.0, (due - time.perf_counter_ns()) / 1e9))
            request = workloads.registration_request(
                f"bench-writer-{uuid.uuid4()}", workloads.registration_rows(person, per_call)
            )
            person += per_call
            sent = time.perf_counter_ns()
            reply = await client.BatchRegisterResidents(request, timeout=300)
            latency.record_ns(time.perf_counter_ns() - sent)
            rows_registered += workloads.registered(reply)
            calls += 1
        elapsed = (time.perf_counter_ns() - started) / 1e9
    return {
        "calls": calls,
        "rows_sent": calls * per_call,
        "rows_per_call": per_call,
        "rows_registered": rows_registered,
        "seconds": round(elapsed, 3),
        "rows_per_second": round(rows_registered / elapsed, 1) if elapsed else 0.0,
        "call_latency": latency.summary(),
        "next_person": person,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--first-person", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rows-per-second", type=int, default=0, help="paced rate (default 0: unpaced)")
    args = parser.parse_args()
    report = uvloop.run(write(args.address, args.first_person, args.seconds, args.rows_per_second))
    print(json.dumps(report), flush=True)  # noqa: T201 - the parent reads this line


if __name__ == "__main__":
    main()
