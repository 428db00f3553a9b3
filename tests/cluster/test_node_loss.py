"""Issue 13: the system on a 3-node RabbitMQ cluster loses a node in the middle of a payment run, and
nothing is lost or doubled.

The cluster is started by ops/rabbit_cluster.py in the test's own directory, on free ports, beside the
default broker. Every process gets the three node URLs (MEDINS_AMQP_URLS). They all start on the first
node, which also leads every quorum queue: the node this test stops is the one carrying the relays'
publishes and the consumers' deliveries. People pay through NotifyPayment concurrently, channels resend
(the fault campaign's actions, tests/e2e/test_fault_campaign.py), and early in the run the node is
stopped; at least a quarter of the notifications come after it is down. Afterwards every payment is accounted for, each
relay and consumer moved to a live node without being restarted, no outbox row is left unpublished, and
`medins audit` is clean: each applied payment granted coverage exactly once, nothing parked in a DLQ
(R14, R21, R23, R31, R32).

Takes about four minutes (most of it starting and stopping RabbitMQ nodes): `make test-cluster`, not
part of `make test`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from medins.collection.v1 import collection_service_pb2 as col

from ops.rabbit_cluster import DIST_PORT_OFFSET, Cluster
from services.common.settings import Settings
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.fleet import (
    FLEET_RETRY_DELAYS_MS,
    FleetStack,
    RefundDesk,
    Replicas,
    audit_clean,
    bounded,
    own_system,
    payable_items,
    person,
    read_value,
    register_people,
    say,
)
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import System
from tests.e2e.test_fault_campaign import (
    LATE_AT,
    STANDARD_FEN,
    Campaign,
    Person,
    every_payment_accounted_for,
    payment_actions,
)
from tests.support import eventually

REGION = "349908"
PEOPLE = 60
DRIVE_SECONDS = 40
CONCURRENCY = 8
BROKER_USERS = ("outbox-relay-insurance", "outbox-relay-tax", "assessment", "coverage")


def free_base_port(size: int) -> int:
    """A first AMQP port such that the nodes' AMQP and distribution ports are all free."""
    for base in range(7100, 9000, 10):
        ports = [base + i + offset for i in range(size) for offset in (0, DIST_PORT_OFFSET)]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports for a test cluster")


@dataclass(frozen=True)
class ClusterStack(FleetStack):
    """The fleet's stack (own databases), with the broker being the test's cluster."""

    urls: tuple[str, ...] = field(default=())

    def env(self) -> dict[str, str]:
        return {**super().env(), "MEDINS_AMQP_URL": self.urls[0], "MEDINS_AMQP_URLS": ",".join(self.urls)}

    def settings(self, **overrides: object) -> Settings:
        return super().settings(**overrides).model_copy(update={"amqp_url": self.urls[0], "amqp_urls": self.urls})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = time.monotonic()
    running = Cluster(Path(tmp_path_factory.mktemp("rabbit")), free_base_port(3), prefix=f"medinstest{os.getpid()}n")
    try:
        running.start(FLEET_RETRY_DELAYS_MS, say=say)
        say(f"cluster: 3 nodes up and joined in {time.monotonic() - started:.1f} s")
        yield running
    finally:
        running.stop(say=say)


@pytest.fixture(scope="module")
async def cluster_system(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """Every process of the system on the cluster (tests/e2e/fleet.py's own_system, on this stack)."""
    stack = ClusterStack("cluster", urls=tuple(cluster.urls()))
    async with own_system("cluster", Path(tmp_path_factory.mktemp("cluster")), stack=stack) as system:
        yield system


def connections(cluster: Cluster, node_index: int) -> int:
    rows = cluster.ctl(cluster.nodes[node_index], "list_connections", "name", "--formatter", "json")
    return len(json.loads(rows or "[]"))


def leaders(cluster: Cluster, via: int = 0) -> dict[str, str]:
    return {str(q["name"]): str(q.get("leader")) for q in cluster.queues(via=cluster.nodes[via])}


@pytest.mark.timeout(600)
async def test_a_node_stops_in_the_middle_of_a_payment_run_and_nothing_is_lost_or_doubled(
    cluster: Cluster, cluster_system: System
) -> None:
    system = cluster_system
    lost = cluster.nodes[0]
    registration = RegistrationClient(system.channel("registration"))
    collection = CollectionClient(system.channel("collection"))
    await create_region(
        registration,
        REGION,
        "集群测试市",
        policy(REGION, 2024, STANDARD_FEN, (dt.date(2023, 9, 1), dt.date(2023, 12, 31))),
    )
    numbers = [person(REGION, i) for i in range(PEOPLE)]
    enrollment_ids = await register_people(registration, REGION, numbers)
    items = await payable_items(system, enrollment_ids, timeout=120)
    # Plain payers, resent by their channel up to three times; every 20th pays through two channels
    # at once (one payment applies, the other is refunded, R23).
    people = [
        Person(i, n, e, items[e][0], "two_channels" if i % 20 == 0 else "plain")
        for i, (n, e) in enumerate(zip(numbers, enrollment_ids, strict=True))
    ]
    system.set_clock(LATE_AT)  # the channels' payment time (the campaign's notifications carry it)

    async def order(p: Person) -> None:
        reply = await collection.CreateOrder(
            col.CreateOrderRequest(request_id=new_request_id(), payer_id_number=p.number, payable_item_ids=[p.item_id])
        )
        p.order_id = reply.order.order_id

    await bounded([lambda p=p: order(p) for p in people], CONCURRENCY)  # type: ignore[misc]

    # What is stopped carries the traffic: every broker user is connected to it, and it leads the queues.
    assert connections(cluster, 0) >= len(BROKER_USERS), "the processes are not on the node to be stopped"
    assert set(leaders(cluster).values()) == {lost.name}, leaders(cluster)

    campaign = Campaign(system, Replicas([collection]), Replicas([registration]))
    actions: list[Callable[[], Awaitable[object]]] = [a for p in people for a in payment_actions(p, campaign)]
    random.Random(13).shuffle(actions)
    campaign.total = len(actions)
    interval = DRIVE_SECONDS / len(actions)
    say(f"cluster: {PEOPLE} people, driving {campaign.total} notifications over {DRIVE_SECONDS} s")

    async def paced(j: int, action: Callable[[], Awaitable[object]]) -> None:
        await asyncio.sleep(max(0.0, campaign.began + j * interval - time.monotonic()))  # the pace, not a wait
        await action()
        campaign.done += 1

    gate = asyncio.Semaphore(CONCURRENCY)

    async def gated(j: int, action: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await paced(j, action)

    done_when_down = 0

    async def stop_node() -> None:
        nonlocal done_when_down
        await campaign.at_progress(0.15)
        fault = campaign.record(f"stop {lost.name}")
        await asyncio.to_thread(cluster.stop_node, lost, say)
        fault.ended_at = time.monotonic() - campaign.began
        done_when_down = campaign.done
        say(f"cluster: {lost.name} down at {fault.ended_at:.1f} s ({done_when_down}/{campaign.total} done)")

    refunds_done = asyncio.Event()
    desk = RefundDesk(system, campaign.collection)
    responder = asyncio.create_task(desk.run(refunds_done))
    supervisor = asyncio.create_task(campaign.supervise(refunds_done))
    campaign.began = time.monotonic()
    try:
        await asyncio.gather(stop_node(), *(gated(j, a) for j, a in enumerate(actions)))
        drive_end = time.monotonic()
        say(f"cluster: drive done in {drive_end - campaign.began:.1f} s; settling")
        await eventually(lambda: every_payment_accounted_for(system, people, desk), timeout=120, interval=1)
        say(f"cluster: every payment accounted for {time.monotonic() - drive_end:.1f} s after the drive")
    finally:
        refunds_done.set()
        await responder
        await supervisor

    # Stopping a node takes seconds (its queues hand over leadership): a good part of the run must still
    # come after it is gone, not merely after the stop began.
    assert campaign.total - done_when_down >= campaign.total / 4, f"node down only after {done_when_down} notifications"
    # Each broker user moved to a live node on its own: none exited, each logged its reconnection there.
    assert campaign.crashes == [], campaign.crashes
    live = {f"127.0.0.1:{node.amqp_port}" for node in cluster.nodes[1:]}
    for name in BROKER_USERS:
        moved = [
            line
            for line in system.log_text(name).splitlines()
            if '"broker_connected"' in line and any(node in line for node in live)
        ]
        assert moved, f"{name} never connected to a live node after {lost.name} stopped"
    assert set(leaders(cluster, via=1).values()) <= {n.name for n in cluster.nodes[1:]}, leaders(cluster, via=1)

    async def outbox_drained() -> None:
        for agency in ("tax", "insurance"):
            unpublished = await read_value(system, agency, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert unpublished == 0, f"{agency}: {unpublished} outbox row(s) unpublished"

    await eventually(outbox_drained, timeout=60, interval=1)
    # `medins audit` reads one broker (amqp_url): the operator points it at a live node.
    system.env["MEDINS_AMQP_URL"] = cluster.nodes[1].url()
    await audit_clean(system, timeout=60)
    say(
        f"cluster: audit clean; {len({t for p in people for t in p.transactions})} transactions,"
        f" client resends {dict(campaign.collection.retries)}, refunds answered {len(desk.answered)}"
    )
