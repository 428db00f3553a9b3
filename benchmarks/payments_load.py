"""The payment intake part of `make bench` (python -m benchmarks.payments_load prints its figures as JSON).

Seeds its own databases with payable items, each held by a pending order, starts the real collection
service, the tax outbox relay (on a vhost of its own, publishing to quorum queues with confirms, running
through every phase) and the bare ceilings server (benchmarks/echo_server.py) as separate processes,
then measures in one run, closed loop:
(a) the echo; (b) raw PostgreSQL: lock a row, write four rows, commit; (c) the ceiling: a bare handler
running the same transaction shape as an applied payment in four round trips; (d) NotifyPayment
applied, each on its own order; (e) NotifyPayment replayed (the channel resending); (f) NotifyPayments,
batches of notifications of orders not yet paid ("not implemented" while the service answers
UNIMPLEMENTED); (g) NotifyPayment applied, open loop at half the rate (d) reached; and what the relay
still had to publish afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import uvloop
from medins.collection.v1 import collection_service_pb2 as col

from benchmarks import durable_footprint, echo_server, load_seed, report
from benchmarks.drive import CpuMeter, PhaseResult, closed_loop, open_loop
from benchmarks.processes import ROOT, Child, Children, wait_serving
from ops.free_ports import free_port
from services.collection.domain.model import Channel
from services.common import grpc_channels
from services.common.clock import CST
from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import declare_topology
from services.common.migrations import drop_database, ensure_database, migrate_database
from services.common.resident_id import check_character
from services.common.settings import Settings

if TYPE_CHECKING:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceAsyncStub as CollectionClient
else:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub as CollectionClient

INSURANCE_DB, TAX_DB, VHOST = "medins_load_insurance", "medins_load_tax", "medins_load"
AMOUNT_FEN = 38_000
CALL_TIMEOUT = 30.0
BULK_SIZE = 100
WARMUP = 1.0
FOOTPRINT_PAYMENTS = 500


def settings() -> Settings:
    return Settings(insurance_db=INSURANCE_DB, tax_db=TAX_DB, amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")


def resident_id(i: int) -> str:
    body = f"320402{dt.date(1950, 1, 1) + dt.timedelta(days=i % 20_000):%Y%m%d}{i // 20_000:03d}"
    return body + check_character(body)


async def rabbitmqctl(*args: str, check: bool = True) -> None:
    await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", *args], capture_output=True, check=check)


async def fresh_stack(s: Settings, vhost: str) -> None:
    """Both databases of `s` dropped, created and migrated; the vhost made anew, with the topology."""
    for agency, name in (("insurance", s.insurance_db), ("tax", s.tax_db)):
        await drop_database(s.admin_dsn, name)
        await ensure_database(s.admin_dsn, name)
        await migrate_database(s.dsn(name), agency)
    await rabbitmqctl("delete_vhost", vhost, check=False)
    await rabbitmqctl("add_vhost", vhost)
    await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    connection = await connect_broker(s.amqp_url, attempts=5)
    try:
        await declare_topology(await connection.channel(), s.retry_delays_ms)
    finally:
        await connection.close()


async def drop_stack(s: Settings, vhost: str) -> None:
    for name in (s.insurance_db, s.tax_db):
        await drop_database(s.admin_dsn, name)
    await rabbitmqctl("delete_vhost", vhost, check=False)


def vhost_of(s: Settings) -> str:
    return s.amqp_url.rsplit("/", 1)[-1]


async def prepare(s: Settings, items: int) -> list[str]:
    """Fresh databases and vhost; `items` unpaid items, payable today (CST), each held by a pending order
    of its own (written as CreateOrder writes them: what is measured is the payment). Returns the order
    ids."""
    await fresh_stack(s, vhost_of(s))
    today = dt.datetime.now(CST).date()
    now = dt.datetime.now(CST)
    people = [resident_id(i) for i in range(items)]
    enrollments = [uuid.uuid4() for _ in people]
    item_ids = [uuid.uuid4() for _ in people]
    conn = await asyncpg.connect(s.tax_dsn)
    try:
        await conn.copy_records_to_table(
            "insured_persons",
            records=[(n, f"缴费人{i}", dt.date(1950, 1, 1), now) for i, n in enumerate(people)],
            columns=["resident_id_number", "name", "birth_date", "updated_at"],
        )
        await conn.copy_records_to_table(
            "enrollment_refs",
            records=[
                (e, n, "320400", "NON_EMPLOYED", "ACTIVE", 1, now) for e, n in zip(enrollments, people, strict=True)
            ],
            columns=[
                "enrollment_id",
                "resident_id_number",
                "region_code",
                "category",
                "state",
                "last_sequence",
                "updated_at",
            ],
        )
        year = today.year + 1
        await conn.copy_records_to_table(
            "payable_items",
            records=[
                (
                    item,
                    e,
                    n,
                    "320400",
                    "NON_EMPLOYED",
                    year,
                    "RESIDENT_MEDICAL",
                    AMOUNT_FEN,
                    0,
                    AMOUNT_FEN,
                    "UNPAID",
                    1,
                    today - dt.timedelta(days=30),
                    today + dt.timedelta(days=30),
                    today + dt.timedelta(days=30),
                    dt.date(year, 1, 1),
                    dt.date(year, 12, 31),
                    False,
                    now,
                    now,
                )
                for item, e, n in zip(item_ids, enrollments, people, strict=True)
            ],
            columns=[
                "payable_item_id",
                "enrollment_id",
                "resident_id_number",
                "region_code",
                "category",
                "insurance_year",
                "fee_type",
                "standard_fen",
                "subsidy_fen",
                "amount_fen",
                "status",
                "policy_version",
                "window_start",
                "window_end",
                "payable_until",
                "coverage_start",
                "coverage_end",
                "newborn_current_year",
                "created_at",
                "updated_at",
            ],
        )
        orders = [uuid.uuid4() for _ in people]
        await conn.copy_records_to_table(
            "orders",
            records=[
                (o, n, "PERSONAL", "PENDING", AMOUNT_FEN, now, now + dt.timedelta(days=1), now)
                for o, n in zip(orders, people, strict=True)
            ],
            columns=[
                "order_id",
                "payer_id_number",
                "kind",
                "status",
                "total_fen",
                "created_at",
                "expires_at",
                "updated_at",
            ],
        )
        await conn.copy_records_to_table(
            "order_lines",
            records=[(o, i, AMOUNT_FEN, True) for o, i in zip(orders, item_ids, strict=True)],
            columns=["order_id", "payable_item_id", "amount_fen", "holds_item"],
        )
        await conn.execute(
            "CREATE TABLE scratch_writes (id uuid PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL)"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return [str(o) for o in orders]


def notification(signatures: load_seed.Signers, order_id: str, k: int) -> col.NotifyPaymentRequest:
    """A WeChat notification of the order's payment, now."""
    return load_seed.notification(
        signatures, Channel.WECHAT, order_id, AMOUNT_FEN, dt.datetime.now(CST), f"4200load{k:010d}"
    )


async def raw_write_baseline(
    s: Settings, concurrency: int, seconds: float, warmup: float, *, connections: int | None = None
) -> PhaseResult:
    """What PostgreSQL does for a payment at the least: lock the order row, write four rows, commit.
    One connection per call in flight, or at most `connections` with the other calls waiting for one
    (PostgreSQL's max_connections is 100 by default)."""
    size = concurrency if connections is None else min(concurrency, connections)
    pool = await asyncpg.create_pool(s.tax_dsn, min_size=size, max_size=size)
    order_ids = [r[0] for r in await pool.fetch("SELECT order_id FROM orders LIMIT 10000")]
    meter = CpuMeter({})

    async def write(i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM orders WHERE order_id = $1 FOR UPDATE", random.choice(order_ids))
            await conn.executemany(
                "INSERT INTO scratch_writes (id, body, at) VALUES ($1, $2, now())",
                [(uuid.uuid4(), f"row {i}-{k}") for k in range(4)],
            )

    try:
        return await closed_loop(write, concurrency=concurrency, seconds=seconds, warmup=warmup, cpu=meter)
    finally:
        await pool.close()


async def durable_position(s: Settings) -> tuple[int, int]:
    """The WAL's position (bytes) and how many payments the tax database holds."""
    conn = await asyncpg.connect(s.tax_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint AS wal, (SELECT count(*) FROM payments) AS payments"
        )
    finally:
        await conn.close()
    assert row is not None
    return row["wal"], row["payments"]


async def durable_cost(s: Settings, before: tuple[int, int]) -> tuple[dict[str, float], tuple[int, int]]:
    """WAL bytes per payment written since `before` (warm-up included, the relay's marks too: what one
    applied payment costs the log), and the position now."""
    now = await durable_position(s)
    payments = now[1] - before[1]
    per_payment = (now[0] - before[0]) / payments if payments else 0.0
    return {"payments": payments, "wal_bytes_per_payment": round(per_payment)}, now


async def payment_footprint(
    s: Settings, pay: Callable[[int], Awaitable[None]], concurrency: int, payments: int = FOOTPRINT_PAYMENTS
) -> dict[str, Any]:
    """Rows, index entries and WAL bytes per payment (benchmarks/durable_footprint.py) over `payments`
    calls of `pay`, `concurrency` in flight, the relay's marks of their events included."""
    conn = await asyncpg.connect(s.tax_dsn)
    try:
        if not await durable_footprint.available(conn):
            return {"available": False}
        start = await durable_footprint.wal_position(conn)
        slots = asyncio.Semaphore(concurrency)

        async def one(k: int) -> None:
            async with slots:
                await pay(k)

        await asyncio.gather(*(one(k) for k in range(payments)))
        deadline = time.monotonic() + 60
        while await unpublished(s) > 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the relay did not publish the footprint's events within 60 s")
            await asyncio.sleep(0.05)  # polling the relay's backlog, bounded by the deadline
        end = await durable_footprint.wal_position(conn)
        return (await durable_footprint.footprint(conn, start, end)).per(payments)
    finally:
        await conn.close()


async def unpublished(s: Settings) -> int:
    conn = await asyncpg.connect(s.tax_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    finally:
        await conn.close()


async def relay_drain(s: Settings, relay: Any) -> dict[str, Any]:
    """What the relay, running through the phases, still had to publish at their end, and how long it took."""
    waiting = await unpublished(s)
    started = time.perf_counter()
    while await unpublished(s) > 0:
        relay.check_running()
        await asyncio.sleep(0.05)  # polling a count; the run itself is the deadline
    seconds = time.perf_counter() - started
    return {"backlog_at_end": waiting, "drain_seconds": round(seconds, 2)}


async def run(options: argparse.Namespace) -> dict[str, Any]:
    s = settings()
    results: dict[str, Any] = {"machine": await report.machine_info(s.admin_dsn), "options": vars(options)}
    orders = await prepare(s, options.orders)
    children = Children(ROOT / "benchmarks" / "results" / "payments-logs")
    try:
        await measure(s, children, orders, options, results)
        return results
    finally:
        await children.stop_all()
        if not options.keep:
            await drop_stack(s, vhost_of(s))


@dataclass
class PaymentServers:
    """The collection service, the ceilings server and the tax outbox relay, with channels to the first two."""

    collection: Child
    bare: Child
    relay: Child
    channel: grpc.aio.Channel
    bare_channel: grpc.aio.Channel


@asynccontextmanager
async def payment_servers(s: Settings, children: Children) -> AsyncIterator[PaymentServers]:
    """Starts the three processes on the databases and vhost of `s`, waits until they answer, and on exit
    closes the channels (the processes stop with `children`)."""
    load_seed.ensure_channel_keys()
    port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "MEDINS_TAX_DB": s.tax_db,
        "MEDINS_INSURANCE_DB": s.insurance_db,
        "MEDINS_AMQP_URL": s.amqp_url,
        "MEDINS_COLLECTION_PORT": str(port),
        "MEDINS_LOG_LEVEL": "WARNING",
        # One client here stands for every channel: its calls in flight are not held to one connection's
        # share (issue 22); the benchmark measures the intake.
        "MEDINS_GRPC_STREAMS_PER_CONNECTION": os.environ.get("MEDINS_GRPC_STREAMS_PER_CONNECTION", "1024"),
    }
    collection = await children.start("collection", ["-m", "services.collection"], env)
    bare_args = ["-m", "benchmarks.echo_server", "--port", str(bare_port), "--tax-dsn", s.tax_dsn]
    bare = await children.start("ceilings", bare_args, env)
    relay = await children.start("relay", ["-m", "workers.outbox_relay", "tax"], env)
    await wait_serving(collection, f"127.0.0.1:{port}")
    channel = grpc_channels.aio_channel(f"127.0.0.1:{port}")
    bare_channel = grpc_channels.aio_channel(f"127.0.0.1:{bare_port}")
    try:
        await _wait_bare(bare_channel, bare)
        yield PaymentServers(collection, bare, relay, channel, bare_channel)
    finally:
        await channel.close(None)
        await bare_channel.close(None)


async def measure(
    s: Settings, children: Children, orders: list[str], options: argparse.Namespace, results: dict[str, Any]
) -> None:
    async with payment_servers(s, children) as servers:
        results["phases"] = await _phases(s, servers, orders, options)
        relay = servers.relay
    results["relay"] = await relay_drain(s, relay)


class OrdersRanOut(RuntimeError):
    """Every seeded order was used: the phase's calls after that are not payments and must not count."""


class PaymentCalls:
    """The calls of the payment phases: the echo, the same-shape ceiling (c) and NotifyPayment applied
    (d), each of the last two on an order of its own, taken from `orders` in turn."""

    def __init__(self, servers: PaymentServers, orders: list[str]) -> None:
        self.client = CollectionClient(servers.channel)
        self.signatures = load_seed.Signers()
        self.applied: list[col.NotifyPaymentRequest] = []
        self._unpaid: Iterator[tuple[int, str]] = iter(enumerate(orders))
        self._echo = servers.bare_channel.unary_unary(echo_server.METHOD, None, None)
        self._shape = servers.bare_channel.unary_unary(echo_server.PAY_SHAPE, None, None)
        self._body = notification(self.signatures, orders[0], -1).SerializeToString()
        self.seeded = len(orders)
        self.ran_out = False

    def next_order(self) -> tuple[int, str]:
        found = next(self._unpaid, None)
        if found is None:
            self.ran_out = True
            raise OrdersRanOut(f"all {self.seeded:,} seeded orders were used: give --orders more")
        return found

    async def ping(self, _: int) -> None:
        await self._echo(self._body, timeout=CALL_TIMEOUT)

    async def shape(self, _: int) -> None:
        k, order_id = self.next_order()
        await self._shape(notification(self.signatures, order_id, k).SerializeToString(), timeout=CALL_TIMEOUT)

    async def pay(self, _: int) -> None:
        k, order_id = self.next_order()
        request = notification(self.signatures, order_id, k)
        reply = await self.client.NotifyPayment(request, timeout=CALL_TIMEOUT)
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
            raise RuntimeError(f"order {order_id} was not applied: {reply}")
        self.applied.append(request)


async def _wait_bare(bare_channel: grpc.aio.Channel, bare: Any) -> None:
    echo = bare_channel.unary_unary(echo_server.METHOD, None, None)
    deadline = time.monotonic() + 60
    while True:
        bare.check_running()
        try:
            await echo(b"ping", timeout=2)
            return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # the server is still starting; asked again


async def _phases(
    s: Settings, servers: PaymentServers, orders: list[str], options: argparse.Namespace
) -> dict[str, Any]:
    calls = PaymentCalls(servers, orders)
    client, signatures, applied = calls.client, calls.signatures, calls.applied
    collection_pid, bare_pid, relay_pid = servers.collection.pid, servers.bare.pid, servers.relay.pid
    common: dict[str, Any] = {"concurrency": options.concurrency, "seconds": options.duration, "warmup": WARMUP}
    ping, shape, pay, next_order = calls.ping, calls.shape, calls.pay, calls.next_order

    async def resend(_: int) -> None:
        again = signatures.delivered_again(random.choice(applied))
        reply = await client.NotifyPayment(again, timeout=CALL_TIMEOUT)
        if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
            raise RuntimeError("a replay must return the original result")

    server = {"relay": relay_pid}
    phases: dict[str, PhaseResult] = {}
    phases["a_echo"] = await closed_loop(ping, cpu=CpuMeter({"server": bare_pid}), **common)
    phases["b_raw_writes"] = await raw_write_baseline(s, options.concurrency, options.duration, WARMUP)
    written: dict[str, dict[str, float]] = {}
    before = await durable_position(s)
    phases["c_same_shape"] = await closed_loop(shape, cpu=CpuMeter({"server": bare_pid, **server}), **common)
    written["c_same_shape"], before = await durable_cost(s, before)
    phases["d_notify_applied"] = await closed_loop(pay, cpu=CpuMeter({"server": collection_pid, **server}), **common)
    written["d_notify_applied"], _ = await durable_cost(s, before)
    footprints = {
        "c_same_shape": await payment_footprint(s, shape, options.concurrency),
        "d_notify_applied": await payment_footprint(s, pay, options.concurrency),
    }
    phases["e_notify_replayed"] = await closed_loop(resend, cpu=CpuMeter({"server": collection_pid}), **common)
    # The latency target's condition: open loop at half the rate the closed loop reached.
    half = max(1.0, phases["d_notify_applied"].rate / 2)
    phases["g_notify_applied_half_rate"] = await open_loop(
        pay, rate=half, seconds=options.duration, warmup=WARMUP, cpu=CpuMeter({"server": collection_pid, **server})
    )
    found: dict[str, Any] = {name: phase.summary() for name, phase in phases.items()}
    for name, cost in written.items():
        found[name]["durable"] = cost | {"footprint": footprints[name]}
    meter = CpuMeter({"server": collection_pid, **server})
    found["f_notify_bulk"] = await _bulk_phase(client, signatures, next_order, meter, options)
    return found


async def _bulk_phase(
    client: CollectionClient,
    signatures: load_seed.Signers,
    next_order: Callable[[], tuple[int, str]],
    meter: CpuMeter,
    options: argparse.Namespace,
) -> dict[str, Any]:
    """(f) NotifyPayments, batches of BULK_SIZE orders not yet paid; "not implemented" while it is not."""
    if not await _bulk_implemented(client):
        return {"implemented": False}

    async def bulk(_: int) -> None:
        batch = [notification(signatures, order_id, k) for k, order_id in (next_order() for _ in range(BULK_SIZE))]
        request = col.NotifyPaymentsRequest(request_id=str(uuid.uuid4()), notifications=batch)
        reply = await client.NotifyPayments(request, timeout=CALL_TIMEOUT)
        refused = [r for r in reply.results if r.WhichOneof("result") != "response"]
        if len(reply.results) != len(batch) or refused:
            raise RuntimeError(f"bulk: {len(reply.results)} results for {len(batch)}, {len(refused)} refused")

    # Fewer calls in flight: each carries BULK_SIZE notifications.
    concurrency = max(1, options.concurrency // 8)
    result = await closed_loop(bulk, concurrency=concurrency, seconds=options.duration, warmup=WARMUP, cpu=meter)
    return result.summary() | {"batch": BULK_SIZE, "notifications_per_second": round(result.rate * BULK_SIZE, 1)}


async def _bulk_implemented(client: CollectionClient) -> bool:
    """An empty batch: UNIMPLEMENTED while the service does not have the RPC; anything else means it has."""
    try:
        await client.NotifyPayments(col.NotifyPaymentsRequest(request_id=str(uuid.uuid4())), timeout=CALL_TIMEOUT)
    except grpc.aio.AioRpcError as exc:
        return exc.code() != grpc.StatusCode.UNIMPLEMENTED
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=60_000, help="orders to seed and pay (default 60,000)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase (default 8)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost")
    options = parser.parse_args()
    results = uvloop.run(run(options))
    sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")


if __name__ == "__main__":
    main()
