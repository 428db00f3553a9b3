"""Load test of the tax side's payment intake (python -m benchmarks.payments_load; make load).

Seeds its own databases with payable items, starts the real collection service, the tax outbox relay
(on a vhost of its own) and a bare grpc.aio echo server as separate processes, creates one order per
item over gRPC, then measures in one run:
(a) the echo baseline, (b) a raw PostgreSQL baseline of the same commit shape as a payment (lock a
row, write four rows, commit), (c) NotifyPayment applied, each on its own order, (d) NotifyPayment
replayed (the channel resending what was already applied), (e) the relay publishing the resulting
payment.confirmed events. Writes its section of docs/BENCHMARKS.md and raw numbers under
benchmarks/results/.
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
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc
import uvloop
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from benchmarks import report
from benchmarks.drive import CpuMeter, PhaseResult, closed_loop
from benchmarks.processes import ROOT, Children, free_port, wait_serving
from services.collection.channels.signature import HmacSignatures
from services.collection.domain.model import Channel
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
START_MARKER, END_MARKER = "<!-- bench-payments:start -->", "<!-- bench-payments:end -->"
AMOUNT_FEN = 38_000
CALL_TIMEOUT = 30.0


def settings() -> Settings:
    return Settings(insurance_db=INSURANCE_DB, tax_db=TAX_DB, amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")


def resident_id(i: int) -> str:
    body = f"320402{dt.date(1950, 1, 1) + dt.timedelta(days=i % 20_000):%Y%m%d}{i // 20_000:03d}"
    return body + check_character(body)


async def rabbitmqctl(*args: str, check: bool = True) -> None:
    await asyncio.to_thread(subprocess.run, ["rabbitmqctl", "-q", *args], capture_output=True, check=check)


async def prepare(s: Settings, items: int) -> list[str]:
    """Fresh databases and vhost; `items` unpaid items, payable today (CST). Returns their ids."""
    for agency, name in (("insurance", INSURANCE_DB), ("tax", TAX_DB)):
        await drop_database(s.admin_dsn, name)
        await ensure_database(s.admin_dsn, name)
        await migrate_database(s.dsn(name), agency)
    await rabbitmqctl("delete_vhost", VHOST, check=False)
    await rabbitmqctl("add_vhost", VHOST)
    await rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    connection = await connect_broker(s.amqp_url, attempts=5)
    try:
        await declare_topology(await connection.channel(), s.retry_delays_ms)
    finally:
        await connection.close()
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
        await conn.execute(
            "CREATE TABLE scratch_writes (id uuid PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL)"
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return [str(i) for i in item_ids]


def wechat(order_id: str, transaction_id: str, signatures: HmacSignatures) -> col.NotifyPaymentRequest:
    payload = json.dumps(
        {
            "out_trade_no": order_id,
            "transaction_id": transaction_id,
            "trade_state": "SUCCESS",
            "success_time": dt.datetime.now(CST).isoformat(),
            "amount": {"total": AMOUNT_FEN, "currency": "CNY"},
        }
    ).encode()
    return col.NotifyPaymentRequest(
        request_id=f"load-{transaction_id}",
        channel=common_pb2.PAYMENT_CHANNEL_WECHAT,
        payload=payload,
        signature=signatures.sign(Channel.WECHAT, payload),
    )


async def create_orders(client: CollectionClient, items: list[str], concurrency: int) -> tuple[list[str], float]:
    """One order per item (as a payer would), all of them; returns the order ids and orders per second."""
    people = [resident_id(i) for i in range(len(items))]
    orders: list[str] = [""] * len(items)
    queue = iter(range(len(items)))
    started = time.perf_counter()

    async def worker() -> None:
        for i in queue:
            reply = await client.CreateOrder(
                col.CreateOrderRequest(request_id=f"order-{i}", payer_id_number=people[i], payable_item_ids=[items[i]]),
                timeout=CALL_TIMEOUT,
            )
            orders[i] = reply.order.order_id

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return orders, len(items) / (time.perf_counter() - started)


async def raw_write_baseline(s: Settings, concurrency: int, seconds: float, warmup: float) -> PhaseResult:
    """What PostgreSQL does for a payment at the least: lock the order row, write four rows, commit."""
    pool = await asyncpg.create_pool(s.tax_dsn, min_size=concurrency, max_size=concurrency)
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


async def unpublished(s: Settings) -> int:
    conn = await asyncpg.connect(s.tax_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
    finally:
        await conn.close()


async def run(options: argparse.Namespace) -> dict[str, Any]:
    s = settings()
    results: dict[str, Any] = {"machine": await report.machine_info(s.admin_dsn), "options": vars(options)}
    items = await prepare(s, options.orders)
    children = Children(ROOT / "benchmarks" / "results" / "payments-logs")
    try:
        await measure(s, children, items, options, results)
        return results
    finally:
        await children.stop_all()
        if not options.keep:
            for name in (INSURANCE_DB, TAX_DB):
                await drop_database(s.admin_dsn, name)
            await rabbitmqctl("delete_vhost", VHOST, check=False)


async def measure(
    s: Settings, children: Children, items: list[str], options: argparse.Namespace, results: dict[str, Any]
) -> None:
    port, echo_port = free_port(), free_port()
    env = {
        **os.environ,
        "MEDINS_TAX_DB": TAX_DB,
        "MEDINS_INSURANCE_DB": INSURANCE_DB,
        "MEDINS_AMQP_URL": s.amqp_url,
        "MEDINS_COLLECTION_PORT": str(port),
        "MEDINS_LOG_LEVEL": "WARNING",
    }
    collection = await children.start("collection", ["-m", "services.collection"], env)
    echo = await children.start("echo", ["-m", "benchmarks.echo_server", "--port", str(echo_port)], env)
    await wait_serving(collection, f"127.0.0.1:{port}")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    echo_channel = grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}")
    try:
        client = CollectionClient(channel)
        orders, order_rate = await create_orders(client, items, options.concurrency)
        results["orders_created_per_second"] = round(order_rate)
        signatures = HmacSignatures(s.channel_secret)
        notifications = [wechat(o, f"4200load{i:010d}", signatures) for i, o in enumerate(orders)]
        common: dict[str, Any] = {"concurrency": options.concurrency, "seconds": options.duration, "warmup": 1.0}
        echo_call = echo_channel.unary_unary("/medins.bench.v1.Echo/Echo", None, None)
        body = notifications[0].SerializeToString()

        async def ping(_: int) -> None:
            await echo_call(body, timeout=CALL_TIMEOUT)

        async def pay(i: int) -> None:
            if i >= len(notifications):
                raise RuntimeError("ran out of orders: give --orders more")
            reply = await client.NotifyPayment(notifications[i], timeout=CALL_TIMEOUT)
            if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
                raise RuntimeError(f"order {i} was not applied: {reply}")

        phases: dict[str, PhaseResult] = {}
        phases["a_echo"] = await closed_loop(ping, cpu=CpuMeter({"server": echo.pid}), **common)
        phases["b_raw_writes"] = await raw_write_baseline(s, options.concurrency, options.duration, 1.0)
        phases["c_notify_applied"] = await closed_loop(pay, cpu=CpuMeter({"server": collection.pid}), **common)
        applied = phases["c_notify_applied"].calls

        async def resend(_: int) -> None:
            reply = await client.NotifyPayment(notifications[random.randrange(applied)], timeout=CALL_TIMEOUT)
            if reply.outcome != col.NOTIFICATION_OUTCOME_APPLIED:
                raise RuntimeError("a replay must return the original result")

        phases["d_notify_replayed"] = await closed_loop(resend, cpu=CpuMeter({"server": collection.pid}), **common)
        results["phases"] = {name: phase.summary() for name, phase in phases.items()}
    finally:
        await channel.close(None)
        await echo_channel.close(None)
    results["relay"] = await relay_drain(s, children, env)


async def relay_drain(s: Settings, children: Children, env: dict[str, str]) -> dict[str, Any]:
    """(e) Starts the tax relay on the accumulated outbox and times until everything is published."""
    waiting = await unpublished(s)
    relay = await children.start("relay", ["-m", "workers.outbox_relay", "tax"], env)
    started = time.perf_counter()
    while await unpublished(s) > 0:
        relay.check_running()
        await asyncio.sleep(0.05)  # polling a count; the run itself is the deadline
    seconds = time.perf_counter() - started
    return {"events": waiting, "seconds": round(seconds, 2), "per_second": round(waiting / seconds)}


def markdown(results: dict[str, Any], command: str) -> str:
    m = results["machine"]
    p = results["phases"]

    def row(key: str, label: str) -> str:
        phase = p[key]
        lat = phase["latency"]
        server = phase["cpu"].get("server_cores")
        per_call = f"{1e6 * server / phase['calls_per_second']:.0f} µs" if server and phase["calls_per_second"] else "-"
        return (
            f"| {label} | {phase['calls_per_second']:,.0f} | {lat.get('p50_ms', '-')} | {lat.get('p99_ms', '-')} | "
            f"{phase['errors']} | {phase['cpu'].get('machine_busy_cores', '-')} | {per_call} |"
        )

    applied, echo, raw = (p[k]["calls_per_second"] for k in ("c_notify_applied", "a_echo", "b_raw_writes"))
    return "\n".join(
        [
            START_MARKER,
            "## Payment intake load (`make load`)",
            "",
            f"Command: `{command}` on {dt.date.today():%Y-%m-%d}. Machine: {m['cpu_model']}, {m['cores']} cores, "
            f"{m['ram_gib']} GiB, PostgreSQL {m['postgresql']}, Python {m['python']}, grpcio {m['grpcio']}; "
            "client, services and PostgreSQL share the machine.",
            "",
            f"{results['options']['orders']:,} orders created beforehand over gRPC at "
            f"{results['orders_created_per_second']:,} orders/s; {results['options']['concurrency']} calls in flight; "
            f"{results['options']['duration']} s measured per phase; latencies in ms.",
            "",
            "| phase | calls/s | p50 | p99 | errors | machine cores busy | server CPU per call |",
            "|---|---:|---:|---:|---:|---:|---:|",
            row("a_echo", "(a) bare grpc.aio echo"),
            row("b_raw_writes", "(b) raw PostgreSQL: lock a row, write 4 rows, commit"),
            row("c_notify_applied", "(c) NotifyPayment, applied (payment, receipt, items, order, event)"),
            row("d_notify_replayed", "(d) NotifyPayment, replayed (the channel resends)"),
            "",
            f"- (c) applied payments run at {applied / echo:.0%} of the echo baseline and {applied / raw:.0%} of "
            "the raw commit baseline: each is one transaction with a row lock on the order, a unique "
            "(channel, transaction) insert, item and order updates, a receipt and an outbox event.",
            f"- (e) the tax relay, started afterwards, published the {results['relay']['events']:,} payment.confirmed "
            f"events in {results['relay']['seconds']} s ({results['relay']['per_second']:,}/s, publisher confirms).",
            END_MARKER,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=30_000, help="orders to create and pay (default 30,000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--keep", action="store_true", help="keep the databases and vhost")
    options = parser.parse_args()
    results = uvloop.run(run(options))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = report.RESULTS_DIR / f"payments_load-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    command = (
        "make load" if options.orders == 30_000 else f"python -m benchmarks.payments_load --orders {options.orders}"
    )
    section = markdown(results, command)
    report.update_doc(section, start_marker=START_MARKER, end_marker=END_MARKER)
    sys.stdout.write(f"{section}\nraw results: {out}\n")


if __name__ == "__main__":
    main()
