"""The fuzz suite runs the three gRPC services (no workers: nothing writes behind the calls' backs, so
row counts before and after a call say what that call wrote) on a stack of their own with the demo
regions and policies. Calls are plain blocking gRPC so hypothesis can drive and shrink them; the async
set-up runs on a loop in a thread of its own."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ops.setup import load_demo_data
from services.common.clock import CST
from services.common.migrations import drop_database, ensure_database, migrate_database
from tests.e2e.system import System
from tests.infra import Stack

T = TypeVar("T")
# Inside Anqing's window for benefit year 2024, as in the end-to-end tests.
START = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)
SERVICES = ("registration", "enrollment", "collection")
# Not evidence of what a call changed: the check's audit of each lookup (R35, committed before the
# lookup is answered) records the call itself, and schema_migrations is the migration runner's.
ASYNC_TABLES = frozenset({"enrollment_check_audit", "schema_migrations"})


class LoopThread:
    """An event loop in a thread of its own, for the asyncio parts of a blocking test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 300) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class FuzzTarget:
    system: System
    loop: LoopThread
    connections: dict[str, asyncpg.Connection]
    channels: dict[str, grpc.Channel]
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    tables: dict[str, list[str]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Rows of every table of both databases (but ASYNC_TABLES), as {"agency.table": n}."""
        return self.loop.run(self._counts())

    async def _counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for agency, conn in self.connections.items():
            if agency not in self.tables:
                rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
                self.tables[agency] = [r["tablename"] for r in rows if r["tablename"] not in ASYNC_TABLES]
            names = self.tables[agency]
            query = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{t}")' for t in names)
            row = await conn.fetchrow(query)
            assert row is not None
            found.update({f"{agency}.{t}": int(row[i]) for i, t in enumerate(names)})
        return found

    def healthy(self) -> None:
        for name in SERVICES:
            assert self.system.processes[name].poll() is None, f"{name} died:\n{self.system.log_text(name)[-3000:]}"
            stub = health_pb2_grpc.HealthStub(self.channels[name])
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


def _wait_serving(system: System, channel: grpc.Channel, name: str, timeout: float = 60) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout
    while True:
        assert system.processes[name].poll() is None, f"{name} exited:\n{system.log_text(name)[-3000:]}"
        try:
            if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status == 1:
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not serving within {timeout}s")
        time.sleep(0.1)  # poll interval, within the deadline above


# Small pools: the suite calls one RPC at a time, and the machine's PostgreSQL is shared.
SMALL_POOLS = {"MEDINS_DB_POOL_MIN": "1", "MEDINS_DB_POOL_MAX": "2"}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    loop = LoopThread()
    stack = Stack("fuzz")
    loop.run(_create_databases(stack))
    loop.run(load_demo_data(stack.settings(), START.date()))
    system = System(stack, Path(tmp_path_factory.mktemp("fuzz")))
    system.set_clock(START)
    for name in SERVICES:
        system.start(name, SMALL_POOLS)
    settings = stack.settings()
    connections = {
        "insurance": loop.run(asyncpg.connect(settings.insurance_dsn)),
        "tax": loop.run(asyncpg.connect(settings.tax_dsn)),
    }
    channels = {name: grpc.insecure_channel(system.address(name)) for name in SERVICES}
    target = FuzzTarget(system, loop, connections, channels)
    try:
        for name in SERVICES:
            _wait_serving(system, channels[name], name)
        yield target
        target.healthy()
    finally:
        _report(target)
        for channel in channels.values():
            channel.close()
        for conn in connections.values():
            loop.run(conn.close())
        codes = system.stop_all()
        loop.run(_drop_databases(stack))
        loop.close()
    assert all(code == 0 for code in codes.values()), f"services did not stop cleanly: {codes}"


async def _create_databases(stack: Stack) -> None:
    """The stack's two databases only: the gRPC services never talk to RabbitMQ (the relays do), so the
    fuzz suite needs no vhost and does not depend on the broker being up."""
    settings = stack.settings()
    for agency, name in (("insurance", stack.insurance_db), ("tax", stack.tax_db)):
        await drop_database(settings.admin_dsn, name)
        await ensure_database(settings.admin_dsn, name)
        await migrate_database(settings.dsn(name), agency)


async def _drop_databases(stack: Stack) -> None:
    settings = stack.settings()
    for name in (stack.insurance_db, stack.tax_db):
        await drop_database(settings.admin_dsn, name)


def _report(target: FuzzTarget) -> None:
    """The counts by status code, on the terminal and in FUZZ_REPORT if set."""
    summary = {"calls": sum(target.codes.values()), "by_code": dict(sorted(target.codes.items()))}
    print(f"\nfuzz: {json.dumps(summary)}")  # noqa: T201 - the run's result, read by people and make fuzz
    report = os.environ.get("MEDINS_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(summary, indent=2) + "\n")
