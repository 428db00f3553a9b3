"""Shared by the duplicate storm and the fault campaign (issue 10 items 7-9): a system of their own
(fresh databases and vhost, so `medins audit` judges only what the run did), people registered in a
region of the run's own, calls that fail over between replicas and retry with the same request id, the
channel's side of refunds, and the audit as an operator runs it."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.resident_id import check_character
from services.common.settings import Settings
from tests.e2e.clients import RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import new_request_id
from tests.e2e.system import System
from tests.infra import Stack, create_stack, drop_stack, remove_leftovers
from tests.support import eventually

T = TypeVar("T")
MEDINS = Path(sys.executable).parent / "medins"
# `make chaos` runs the full sizes; `make test` the small profile.
FULL = os.environ.get("MEDINS_CHAOS_PROFILE") == "full"
# Failures a retrying client rides out: the server died or restarted under the call.
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


# Retry tiers closer to production's (1 s, 5 s, 30 s, 120 s) than the other tests' 200/500 ms: the
# database server is shared with other runs, and a few seconds without a free connection must not park
# an event that would succeed a moment later. The audit still fails on anything parked.
FLEET_RETRY_DELAYS_MS = (500, 2_000, 10_000)


@dataclass(frozen=True)
class FleetStack(Stack):
    def env(self) -> dict[str, str]:
        return {**super().env(), "MEDINS_RETRY_DELAYS_MS": json.dumps(list(FLEET_RETRY_DELAYS_MS))}

    def settings(self, **overrides: object) -> Settings:
        return super().settings(**overrides).model_copy(update={"retry_delays_ms": FLEET_RETRY_DELAYS_MS})


_STARTED = time.monotonic()


def say(message: str) -> None:
    """A progress line on stderr, shown at once with `pytest -s` (long runs show their phases)."""
    print(f"[{time.monotonic() - _STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)  # noqa: T201


@asynccontextmanager
async def own_system(
    name: str,
    workdir: Path,
    *,
    replicas: int = 1,
    stack: FleetStack | None = None,
    only: Sequence[str] | None = None,
) -> AsyncIterator[System]:
    """A whole system on a stack of its own (`stack`, or a fleet stack named `name`), stopped and
    dropped afterwards; `only` these processes (and their replicas) when given."""
    await remove_leftovers()
    stack = stack or FleetStack(name)
    await create_stack(stack)
    system = System(stack, workdir, replicas=replicas)
    if replicas > 1:
        # Smaller pools still than System's (max 4): two replicas of every process.
        system.env["MEDINS_DB_POOL_MAX"] = "2"
    system.set_clock(START)
    if only is None:
        system.start_all()
    for process in only or ():
        for instance in system.instances(process):
            system.start(instance)
    try:
        await system.wait_ready(timeout=120)
        say(f"{name}: {len(system.processes)} processes ready")
        yield system
    finally:
        await system.close_channels()
        hung = await asyncio.to_thread(stop_every_process, system)  # the loop serves the simulators meanwhile
        await drop_stack(stack)
    assert not hung, f"processes did not stop within 30 s of SIGTERM: {hung} (logs in {system.logs})"


def stop_every_process(system: System) -> list[str]:
    """SIGTERM to all, then SIGKILL to whatever has not exited after 30 s; returns those names."""
    for process in system.processes.values():
        process.send_signal(signal.SIGTERM)
    hung = []
    for name, process in system.processes.items():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            hung.append(name)
            process.kill()
            process.wait(timeout=30)
    system.processes.clear()
    return hung


CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.TooManyConnectionsError)


async def read(system: System, agency: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """The tests' oracle read, riding out a full or restarting database server for up to a minute (the
    server is shared with other runs, and the campaign cuts sessions on purpose)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await system.query(agency, sql, *args)
        except CONNECTION_ERRORS:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def read_value(system: System, agency: str, sql: str, *args: object) -> Any:
    rows = await read(system, agency, sql, *args)
    return rows[0][0] if rows else None


def person(region: str, i: int) -> str:
    """A valid resident ID number of the region, distinct per i (up to 36,000 people)."""
    body = f"{region}{dt.date(1950, 1, 1) + dt.timedelta(days=i // 1000):%Y%m%d}{i % 1000:03d}"
    return body + check_character(body)


async def bounded(calls: Sequence[Callable[[], Awaitable[T]]], concurrency: int) -> list[T]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def register_people(registration: RegistrationClient, region: str, numbers: Sequence[str]) -> list[str]:
    """Batch-registers everyone (rows of 1,000); returns their enrollment ids in order."""
    enrollment_ids: list[str] = []
    for start in range(0, len(numbers), 1000):
        reply = await registration.BatchRegisterResidents(
            reg.BatchRegisterResidentsRequest(
                request_id=new_request_id(),
                batch_id=f"fleet-{region}-{start}",
                submitter_code=region,
                rows=[
                    reg.RegistrationRow(
                        row_number=i + 1,
                        resident_id_number=numbers[i],
                        name=f"群{i}",
                        phone="13500135000",
                        region_code=region,
                        category=common_pb2.CATEGORY_NON_EMPLOYED,
                        evidence=[reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref=f"d{i}")],
                    )
                    for i in range(start, min(start + 1000, len(numbers)))
                ],
            ),
            timeout=300,
        )
        assert all(r.outcome == reg.ROW_OUTCOME_REGISTERED for r in reply.results), reply.results[:3]
        enrollment_ids += [r.enrollment_id for r in reply.results]
    return enrollment_ids


async def payable_items(
    system: System, enrollment_ids: Sequence[str], *, timeout: float = 600
) -> dict[str, tuple[str, int]]:
    """Waits until tax has assessed every enrollment; returns enrollment id → (live item id, amount)."""

    async def assessed() -> dict[str, tuple[str, int]]:
        rows = await read(
            system,
            "tax",
            """SELECT enrollment_id::text, payable_item_id::text, amount_fen FROM payable_items
               WHERE enrollment_id = ANY($1::uuid[]) AND status = 'UNPAID'""",
            list(enrollment_ids),
        )
        found = {r[0]: (r[1], r[2]) for r in rows}
        assert len(found) == len(enrollment_ids), f"{len(found)} of {len(enrollment_ids)} assessed"
        return found

    return await eventually(assessed, timeout=timeout, interval=0.5)


@dataclass
class Replicas:
    """Client side of a replicated gRPC service: calls go round the replicas, and a call that fails
    because its server died is sent again, with the same request (and so the same request id, R21),
    to the next replica until the deadline."""

    clients: Sequence[Any]
    retries: Counter[str] = field(default_factory=Counter)  # status code name → calls sent again
    in_flight: int = 0
    _next: int = field(default=0, repr=False)

    async def call(self, method: str, request: object, *, deadline_seconds: float = 180) -> object:
        deadline = time.monotonic() + deadline_seconds
        while True:
            client = self.clients[self._next % len(self.clients)]
            self._next += 1
            self.in_flight += 1
            try:
                return await getattr(client, method)(request, timeout=15)
            except grpc.aio.AioRpcError as error:
                # INTERNAL too: a database session cut under the call surfaces as INTERNAL, and every
                # call sent here carries its request id, so sending it again cannot double its effect.
                retryable = error.code() in TRANSIENT or error.code() is grpc.StatusCode.INTERNAL
                if not retryable or time.monotonic() > deadline:
                    raise
                self.retries[error.code().name] += 1
            finally:
                self.in_flight -= 1
            await asyncio.sleep(0.2)

    async def notify(self, request: col.NotifyPaymentRequest) -> col.NotifyPaymentResponse:
        reply = await self.call("NotifyPayment", request)
        assert isinstance(reply, col.NotifyPaymentResponse)
        return reply


@dataclass
class RefundDesk:
    """The channels' side of refunds: every refund our gateway submitted is reported returned (the
    stand-in gateway only accepts; the result comes back through NotifyRefundResult, with a request id
    of its own per refund, so telling it twice is harmless). A result the service refuses is kept with
    its error, and the desk goes on with the others."""

    system: System
    collection: Replicas
    answered: set[str] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)  # refund id → the service's error

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            rows = await read(
                self.system, "tax", "SELECT refund_id::text, channel_refund_id FROM refunds WHERE status = 'SUBMITTED'"
            )
            for refund_id, channel_refund_id in rows:
                await self.answer(refund_id, channel_refund_id or "")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    async def answer(self, refund_id: str, channel_refund_id: str) -> None:
        request = col.NotifyRefundResultRequest(
            request_id=f"refund-result-{refund_id}",
            refund_id=refund_id,
            channel_refund_id=channel_refund_id,
            succeeded=True,
        )
        try:
            await self.collection.call("NotifyRefundResult", request, deadline_seconds=20)
        except grpc.aio.AioRpcError as error:
            self.refused[refund_id] = f"{error.code().name}: {error.details()}"
            return
        self.answered.add(refund_id)
        self.refused.pop(refund_id, None)


def audit(system: System) -> subprocess.CompletedProcess[str]:
    """`medins audit` against the system's databases and vhost, as an operator runs it."""
    return subprocess.run(
        [str(MEDINS), "audit"], env=system.env, capture_output=True, text=True, timeout=300, check=False
    )


async def audit_clean(system: System, *, timeout: float) -> float:
    """Polls the audit until it reports clean (events may still be in flight); returns the seconds it
    took. Fails with the last table when the deadline passes."""
    started = time.monotonic()

    async def clean() -> None:
        result = await asyncio.to_thread(audit, system)
        assert result.returncode != 2, result.stderr  # unreachable: nothing was audited
        assert result.returncode == 0, result.stdout + result.stderr

    await eventually(clean, timeout=timeout, interval=2)
    return time.monotonic() - started
