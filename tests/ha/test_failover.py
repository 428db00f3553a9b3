"""Issue 24 item 2: PostgreSQL loses its primary in the middle of a payment run, Patroni promotes the
synchronous standby, every process reconnects by itself, and no payment the system acknowledged is lost
or doubled; then a planned switchover, which callers that retry never see as an error (R14, R21, R23,
R31, R32).

The cluster is ops/pg_ha.py's (etcd and two Patroni nodes of PostgreSQL 15, synchronous mode) on free
ports under .make/, serving both agencies' databases; RabbitMQ is the local broker. Every process gets
both nodes in MEDINS_PG_HOSTS and connects with target_session_attrs=read-write. People pay through
NotifyPayment, channels resend, every 20th pays through two channels; at 30 % of the notifications the
primary's Patroni and every PostgreSQL process of it are killed with SIGKILL (the machine is lost).
Callers retry with the same request (so the same request id) on UNAVAILABLE, as the service tells them
to. Figures (time without a primary, payments acknowledged and found, time to settle) are printed.

`make test-ha` (about five minutes), not part of `make test`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from medins.collection.v1 import collection_service_pb2 as col

from ops.pg_ha import HaCluster
from services.common.settings import Settings
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.fleet import (
    FleetStack,
    RefundDesk,
    Replicas,
    audit_clean,
    bounded,
    own_system,
    payable_items,
    person,
    read,
    read_value,
    register_people,
    say,
)
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import ROOT, System
from tests.e2e.test_fault_campaign import (
    LATE_AT,
    STANDARD_FEN,
    Campaign,
    Person,
    every_payment_accounted_for,
    payment_actions,
)
from tests.support import eventually

# Two regions: the fleet's batch ids are per region and row range, so each phase registers in its own.
REGION, SWITCHOVER_REGION = "349909", "349911"
FAILOVER_PEOPLE, SWITCHOVER_PEOPLE = 60, 30
DRIVE_SECONDS = 40
CONCURRENCY = 8
BROKER_USERS = ("outbox-relay-insurance", "outbox-relay-tax", "assessment", "coverage")


def free_base_port() -> int:
    """A first port such that etcd's two ports, the nodes' and their REST APIs' are all free."""
    for base in range(7450, 9000, 25):
        try:
            for port in [base, base + 1, base + 2, base + 3, base + 12, base + 13]:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports for a test cluster")


@dataclass(frozen=True)
class HaStack(FleetStack):
    """The fleet's stack (own databases, own vhost), its databases on the Patroni cluster."""

    hosts: str = ""

    def env(self) -> dict[str, str]:
        return {**super().env(), "MEDINS_PG_HOSTS": self.hosts}

    def settings(self, **overrides: object) -> Settings:
        nodes = Settings(pg_hosts=self.hosts).pg_hosts  # type: ignore[arg-type]
        return super().settings(**overrides).model_copy(update={"pg_hosts": nodes})


@pytest.fixture(scope="module")
def cluster() -> Iterator[HaCluster]:
    # Under the work tree's .make/ (every parent traversable): PostgreSQL runs as the postgres user,
    # and pytest's temporary directories are private to root.
    directory = ROOT / ".make" / f"test-ha-{os.getpid()}"
    running = HaCluster(directory, free_base_port())
    started = time.monotonic()
    try:
        running.start(say=say)
        say(f"ha: primary and synchronous standby up in {time.monotonic() - started:.1f} s")
        yield running
    finally:
        running.stop(say=say)
        shutil.rmtree(directory, ignore_errors=True)


def primary_first(cluster: HaCluster) -> str:
    """MEDINS_PG_HOSTS with the primary first. A database just created is not yet replayed on the
    standby (synchronous commit waits for its flush, not its replay), and a multi-host connection that
    meets the standby first fails there, "database does not exist", instead of trying the next host: so
    the stack's databases are created and migrated through the primary. The kill later takes the first."""
    leader = cluster.leader()
    nodes = sorted(cluster.nodes, key=lambda node: leader is None or node.name != leader.name)
    return ",".join(f"127.0.0.1:{node.pg_port}" for node in nodes)


@pytest.fixture(scope="module")
async def ha_system(cluster: HaCluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    stack = HaStack("ha", hosts=primary_first(cluster))
    async with own_system("ha", Path(tmp_path_factory.mktemp("ha")), stack=stack) as system:
        yield system


@dataclass
class Prober:
    """Opens a read-write session through the multi-host DSN every 100 ms, as a process would: when it
    succeeds and on which node. The longest run of failures is the time without a primary."""

    dsn: str
    results: list[tuple[float, int | None]] = field(default_factory=list)  # (monotonic, node port or None)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            at = time.monotonic()
            try:
                conn = await asyncpg.connect(self.dsn, timeout=1)
                try:
                    port = int(await conn.fetchval("SELECT inet_server_port()"))  # which node answered
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError):
                port = None
            self.results.append((at, port))
            await asyncio.sleep(0.1)

    def outage_after(self, moment: float) -> tuple[float, int]:
        """Seconds from the last read-write success before the first failure after `moment` to the next
        success, and the node that answered then."""
        after = [(t, p) for t, p in self.results if t >= moment]
        first_failure = next((t for t, p in after if p is None), None)
        if first_failure is None:
            return 0.0, next(p for _, p in after if p is not None)
        last_ok = max((t for t, p in self.results if p is not None and t < first_failure), default=moment)
        recovered_at, node = next((t, p) for t, p in self.results if t > first_failure and p is not None)
        return recovered_at - last_ok, node


@dataclass
class Acknowledged(Replicas):
    """A retrying channel that keeps what the service acknowledged: each reply's payment."""

    replies: list[col.NotifyPaymentResponse] = field(default_factory=list)

    async def notify(self, request: col.NotifyPaymentRequest) -> col.NotifyPaymentResponse:
        reply = await super().notify(request)
        self.replies.append(reply)
        return reply


async def prepare(
    system: System, registration: RegistrationClient, region: str, first: int, count: int
) -> list[Person]:
    """People registered, assessed and with an order each; every 20th pays through two channels."""
    collection = CollectionClient(system.channel("collection"))
    numbers = [person(region, i) for i in range(first, first + count)]
    enrollment_ids = await register_people(registration, region, numbers)
    items = await payable_items(system, enrollment_ids, timeout=120)
    people = [
        Person(first + k, n, e, items[e][0], "two_channels" if (first + k) % 20 == 0 else "plain")
        for k, (n, e) in enumerate(zip(numbers, enrollment_ids, strict=True))
    ]

    async def order(p: Person) -> None:
        reply = await collection.CreateOrder(
            col.CreateOrderRequest(request_id=new_request_id(), payer_id_number=p.number, payable_item_ids=[p.item_id])
        )
        p.order_id = reply.order.order_id

    await bounded([lambda p=p: order(p) for p in people], CONCURRENCY)  # type: ignore[misc]
    return people


async def drive(campaign: Campaign, people: list[Person], fault: Callable[[], Awaitable[None]], seed: int) -> None:
    """Every person's notifications (resends included), paced over DRIVE_SECONDS, with `fault` beside."""
    actions: list[Callable[[], Awaitable[object]]] = [a for p in people for a in payment_actions(p, campaign)]
    random.Random(seed).shuffle(actions)
    campaign.total, campaign.done = len(actions), 0
    interval = DRIVE_SECONDS / len(actions)
    gate = asyncio.Semaphore(CONCURRENCY)
    campaign.began = time.monotonic()

    async def paced(j: int, action: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await asyncio.sleep(max(0.0, campaign.began + j * interval - time.monotonic()))  # the pace, not a wait
            await action()
            campaign.done += 1

    await asyncio.gather(fault(), *(paced(j, a) for j, a in enumerate(actions)))


async def acknowledged_payments_present(system: System, replies: list[col.NotifyPaymentResponse]) -> tuple[int, int]:
    """Every payment a reply acknowledged is in the tax database, once: (acknowledged, found)."""
    acknowledged = {r.payment_id for r in replies if r.payment_id}
    rows = await read(
        system, "tax", "SELECT payment_id::text FROM payments WHERE payment_id = ANY($1::uuid[])", list(acknowledged)
    )
    found = {r[0] for r in rows}
    assert found == acknowledged, f"{len(acknowledged - found)} acknowledged payment(s) lost: {acknowledged - found}"
    return len(acknowledged), len(found)


def log_sizes(system: System) -> dict[str, int]:
    return {name: len(system.log_text(name)) for name in system.processes}


FAILURES = (
    '"periodic_job_failed"',
    '"relay_publish_failed"',
    '"rpc_database_unavailable"',
    '"event_failed_will_retry"',
)


def reconnected_by_itself(
    system: System, campaign: Campaign, at_kill: dict[str, int], when_settled: dict[str, int]
) -> None:
    """No process exited; each relay and consumer did work after the kill; since the system settled,
    no process logged a failure to reach the database (the periodic jobs run every 0.2 s)."""
    assert campaign.crashes == [], campaign.crashes
    for name in BROKER_USERS:
        after = system.log_text(name)[at_kill[name] :]
        assert '"outbox_published"' in after or '"event_applied"' in after, f"{name} did nothing after the kill"
    for name in system.processes:
        since = system.log_text(name)[when_settled[name] :]
        failing = [line[:300] for line in since.splitlines() if any(f in line for f in FAILURES)]
        assert not failing, f"{name} still fails after the failover: {failing[:2]}"


@pytest.mark.timeout(900)
async def test_the_primary_is_killed_mid_run_and_every_acknowledged_payment_survives_then_a_switchover(
    cluster: HaCluster, ha_system: System
) -> None:
    system = ha_system
    registration = RegistrationClient(system.channel("registration"))
    window = (dt.date(2023, 9, 1), dt.date(2023, 12, 31))
    for code, name in ((REGION, "高可用测试市"), (SWITCHOVER_REGION, "切换测试市")):
        await create_region(registration, code, name, policy(code, 2024, STANDARD_FEN, window))
    people = await prepare(system, registration, REGION, 0, FAILOVER_PEOPLE)
    system.set_clock(LATE_AT)  # the channels' payment time (the campaign's notifications carry it)
    collection = Acknowledged([CollectionClient(system.channel("collection"))])
    campaign = Campaign(system, collection, Replicas([registration]))
    desk = RefundDesk(system, collection)
    stop = asyncio.Event()
    prober = Prober(system.stack.settings().dsn(system.stack.tax_db))
    background = [
        asyncio.create_task(desk.run(stop)),
        asyncio.create_task(campaign.supervise(stop)),
        asyncio.create_task(prober.run(stop)),
    ]
    primary = cluster.leader()
    assert primary is not None and cluster.sync_standby() is not None, cluster.describe()
    killed_at = 0.0
    logs_at_kill: dict[str, int] = {}

    async def kill_primary() -> None:
        nonlocal killed_at, logs_at_kill
        await campaign.at_progress(0.30)
        campaign.record(f"kill -9 of {primary.name} (Patroni and every PostgreSQL process)")
        logs_at_kill = log_sizes(system)
        killed_at = time.monotonic()
        cluster.kill_node(primary)

    try:
        say(f"ha: {FAILOVER_PEOPLE} people; driving their notifications over {DRIVE_SECONDS} s")
        await drive(campaign, people, kill_primary, seed=24)
        say(f"ha: drive done; {dict(collection.retries)} resent after errors; settling")
        await eventually(lambda: every_payment_accounted_for(system, people, desk), timeout=180, interval=1)
        accounted_at = time.monotonic()
        await audit_clean(system, timeout=120)
        settled_at = time.monotonic()
        without_primary, new_primary_port = prober.outage_after(killed_at)
        acknowledged, found = await acknowledged_payments_present(system, collection.replies)
        new_primary = cluster.leader()
        assert new_primary is not None and new_primary.pg_port == new_primary_port != primary.pg_port
        # Callers saw only retryable refusals, never INTERNAL: the service said "retry" and meant it.
        assert set(collection.retries) <= {"UNAVAILABLE"}, collection.retries
        say(
            f"ha failover: {acknowledged} payments acknowledged, {found} found after the failover; no primary for"
            f" {without_primary:.1f} s ({primary.name} killed, {new_primary.name} promoted); every payment accounted"
            f" for {accounted_at - killed_at:.1f} s and audit clean {settled_at - killed_at:.1f} s after the kill;"
            f" callers resent {dict(collection.retries)}"
        )

        # More people registered, assessed and given orders on the new primary: every process works on it.
        logs_when_settled = log_sizes(system)
        more = await prepare(system, registration, SWITCHOVER_REGION, FAILOVER_PEOPLE, SWITCHOVER_PEOPLE)
        reconnected_by_itself(system, campaign, logs_at_kill, logs_when_settled)

        # The old primary comes back as the standby (pg_rewind), then a planned switchover to it.
        cluster.start_node(primary)
        rejoin_started = time.monotonic()
        await asyncio.to_thread(cluster.wait_healthy, 180)
        say(f"ha: {primary.name} rejoined as synchronous standby in {time.monotonic() - rejoin_started:.1f} s")
        collection.retries.clear()
        switched: tuple[str, str] = ("", "")
        switch_at = 0.0

        async def switchover() -> None:
            nonlocal switched, switch_at
            await campaign.at_progress(0.30)
            campaign.record("planned switchover")
            switch_at = time.monotonic()
            switched = await asyncio.to_thread(cluster.switchover)

        await drive(campaign, more, switchover, seed=25)
        await eventually(lambda: every_payment_accounted_for(system, people + more, desk), timeout=180, interval=1)
        await audit_clean(system, timeout=120)
        switch_settled = time.monotonic() - switch_at
        switch_gap, _ = prober.outage_after(switch_at)
        acknowledged, found = await acknowledged_payments_present(system, collection.replies)
        assert campaign.crashes == [], campaign.crashes
        assert set(collection.retries) <= {"UNAVAILABLE"}, collection.retries
        assert cluster.leader() == cluster.node(switched[1]), cluster.describe()
        say(
            f"ha switchover {switched[0]} -> {switched[1]}: no primary for {switch_gap:.1f} s; callers resent"
            f" {dict(collection.retries)} and saw no error; {acknowledged} payments acknowledged in all, {found}"
            f" found; settled {switch_settled:.1f} s after the switchover"
        )
    finally:
        stop.set()
        await asyncio.gather(*background)
    unpublished = [
        await read_value(system, a, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        for a in ("tax", "insurance")
    ]
    assert unpublished == [0, 0], unpublished
