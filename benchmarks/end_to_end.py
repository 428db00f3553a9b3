"""The end-to-end phase of `make bench`: a channel's payment notification until coverage is granted on
the insurance side (R14, R21), through every process that carries it: collection, the tax relay,
RabbitMQ (quorum queues, confirms), the coverage worker.

On a stack of its own (databases and vhost), with the demo policies: residents registered through the
registration service in Changzhou, assessed by the tax side, one order each; then every order's
notification is sent at a fixed concurrency, and the clock runs until the last of their years is COVERED.
The rate is payments over that whole time: what the system sustains from the notification to the grant.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from medins.collection.v1 import collection_service_pb2 as col

from benchmarks import enrollment_check, load_seed, payments_load, workloads
from benchmarks.processes import Children, poll_until, wait_serving
from ops.free_ports import free_port
from ops.setup import load_demo_data
from services.common import grpc_channels
from services.common.settings import Settings

if TYPE_CHECKING:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceAsyncStub as CollectionClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceAsyncStub as RegistrationClient
else:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub as CollectionClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceStub as RegistrationClient

INSURANCE_DB, TAX_DB, VHOST = "medins_bench_e2e_insurance", "medins_bench_e2e_tax", "medins_bench_e2e"
REGION = workloads.WRITER_REGION  # Changzhou: automatic review
PROCESSES = (
    ("registration", "services.registration"),
    ("collection", "services.collection"),
    ("relay-insurance", "workers.outbox_relay", "insurance"),
    ("relay-tax", "workers.outbox_relay", "tax"),
    ("assessment", "workers.assessment"),
    ("coverage", "workers.coverage"),
)
CALL_TIMEOUT = 30.0
COVERAGE_PATIENCE_SECONDS = 300.0


@dataclass(frozen=True)
class Options:
    payments: int
    concurrency: int
    keep: bool = False


def settings() -> Settings:
    return Settings(insurance_db=INSURANCE_DB, tax_db=TAX_DB, amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")


async def run(options: Options, children: Children) -> dict[str, Any]:
    """Sets up the stack, starts the processes, measures; stops them and drops the stack."""
    s = settings()
    await payments_load.fresh_stack(s, VHOST)
    await load_demo_data(s)
    ports = {"registration": free_port(), "collection": free_port()}
    clock_env, clock = enrollment_check.registration_clock(children.log_dir)
    env = {
        **os.environ,
        **clock_env,
        "MEDINS_TAX_DB": TAX_DB,
        "MEDINS_INSURANCE_DB": INSURANCE_DB,
        "MEDINS_AMQP_URL": s.amqp_url,
        "MEDINS_REGISTRATION_PORT": str(ports["registration"]),
        "MEDINS_COLLECTION_PORT": str(ports["collection"]),
        "MEDINS_LOG_LEVEL": "WARNING",
        # One client here stands for every channel: its calls in flight are not held to one connection's
        # share (issue 22); the benchmark measures the intake.
        "MEDINS_GRPC_STREAMS_PER_CONNECTION": os.environ.get("MEDINS_GRPC_STREAMS_PER_CONNECTION", "1024"),
    }
    load_seed.ensure_channel_keys()
    started = []
    try:
        for name, module, *args in PROCESSES:
            started.append(await children.start(f"e2e-{name}", ["-m", module, *args], env))
        for child in started[:2]:
            await wait_serving(child, f"127.0.0.1:{ports[child.name.removeprefix('e2e-')]}")
        found = await _measure(s, ports, options)
        return found | {"clock": clock, "payments": options.payments, "concurrency": options.concurrency}
    finally:
        for child in started:
            await children.stop(child)
        if not options.keep:
            await payments_load.drop_stack(s, VHOST)


async def _measure(s: Settings, ports: dict[str, int], options: Options) -> dict[str, Any]:
    async with (
        grpc_channels.aio_channel(f"127.0.0.1:{ports['registration']}") as registration_channel,
        grpc_channels.aio_channel(f"127.0.0.1:{ports['collection']}") as collection_channel,
    ):
        registration = RegistrationClient(registration_channel)
        collection = CollectionClient(collection_channel)
        numbers = load_seed.new_numbers(REGION, options.payments, random.Random(12))
        registered = await load_seed.register(registration, REGION, numbers)
        people = await load_seed.assessed(collection, registered, within_seconds=180)
        if len(people) < options.payments:
            raise RuntimeError(f"only {len(people)} of {options.payments} people were assessed in time")
        orders = await _bounded(
            [
                lambda p=p: collection.CreateOrder(
                    col.CreateOrderRequest(
                        request_id=str(uuid.uuid4()), payer_id_number=p.number, payable_item_ids=[p.item_id]
                    ),
                    timeout=CALL_TIMEOUT,
                )
                for p in people
            ],
            options.concurrency,
        )
        signatures = load_seed.Signers()
        notifications = [
            load_seed.notification(
                signatures,
                load_seed.CHANNELS[k % len(load_seed.CHANNELS)],
                reply.order.order_id,
                p.amount_fen,
                reply.order.create_time.ToDatetime(dt.UTC),
                f"e2e{k:012d}",
            )
            for k, (p, reply) in enumerate(zip(people, orders, strict=True))
        ]
        began = time.perf_counter()
        replies = await _bounded(
            [lambda n=n: collection.NotifyPayment(n, timeout=CALL_TIMEOUT) for n in notifications],
            options.concurrency,
        )
        notified = time.perf_counter() - began
    applied = sum(r.outcome == col.NOTIFICATION_OUTCOME_APPLIED for r in replies)
    if applied != len(notifications):
        raise RuntimeError(f"{len(notifications) - applied} notifications were not applied")
    conn = await asyncpg.connect(s.insurance_dsn)
    try:

        async def all_covered() -> bool:
            covered = await conn.fetchval("SELECT count(*) FROM enrollment_years WHERE status = 'COVERED'")
            return bool(int(covered) >= applied)

        await poll_until(all_covered, within_seconds=COVERAGE_PATIENCE_SECONDS, what="coverage of every payment")
    finally:
        await conn.close()
    covered_after = time.perf_counter() - began
    return {
        "notifications_seconds": round(notified, 3),
        "notifications_per_second": round(applied / notified, 1),
        "covered_seconds": round(covered_after, 3),
        "covered_per_second": round(applied / covered_after, 1),
    }


async def _bounded(calls: list[Any], concurrency: int) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Any) -> Any:
        async with semaphore:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))
