"""R44, R21b, R42 (issue 21): the HTTPS callback endpoint down for 10 minutes while the WeChat Pay
simulator (ops/channel_sim/server.py) retries each callback on WeChat Pay's published schedule
(ledger.RETRIES: 15s/15s/30s/3m/10m/...), compressed by a time scale so that 10 channel minutes are 12 s
here. Every callback is signed by the simulator and verified by the endpoint with WeChat Pay's own
scheme (R42); half the deliveries are sent twice. Once the endpoint is back, every payment is applied
exactly once (R21): one payment and one APPLIED record per order in channel_notifications (R21b), no
refund, and `medins audit` clean.

The system runs the payment path and the endpoint only, without the payment-query worker (R43), so
nothing but the channel's retried callbacks can apply a payment; its clock is a file clock, frozen at
START for the channel and for us alike (WeChat Pay's 5-minute timestamp window holds)."""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from medins.collection.v1 import collection_service_pb2 as col

from ops.channel_sim.ledger import RETRIES, Faults, Ledger
from ops.channel_sim.server import ChannelServer, server_from_keys
from services.common.clock import FileClock
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.fleet import audit_clean
from tests.e2e.system import PAYMENT_PATH, System, callback_certs, running_system
from tests.e2e.test_channel_callbacks import pending
from tests.infra import Stack
from tests.support import eventually

ORDERS = 8
TIME_SCALE = 0.02  # one channel second is 20 ms of ours
OUTAGE_SECONDS = 10 * 60  # channel time
# WeChat Pay's attempts in the first 10 minutes (at 0 s, 15 s, 30 s, 1 min, 4 min); the next is at 14 min.
TRIES_IN_OUTAGE = sum(1 for at in itertools.accumulate((0, *RETRIES["wechat"])) if at < OUTAGE_SECONDS)


@pytest.fixture(scope="module")
async def outage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """The payment path on a stack of its own with the demo data; the callback endpoint not started yet
    (it is down)."""
    workdir = Path(tmp_path_factory.mktemp("callback_outage"))
    async with running_system(Stack("callback_outage"), workdir, START, only=PAYMENT_PATH) as system:
        yield system


@pytest.fixture
async def wechat(outage: System) -> AsyncIterator[ChannelServer]:
    """WeChat Pay's simulator calling the system's endpoint, trusting its CA (`make certs`' layout)."""
    server = server_from_keys(
        "wechat",
        channels.keys_root(),
        f"{outage.callbacks_url}/callbacks/wechat",
        clock=FileClock(outage.clock_file),
        faults=Faults(duplicate=0.5),
        time_scale=TIME_SCALE,
        ledger=Ledger(21),
        callback_ssl=ssl.create_default_context(cafile=str(callback_certs() / "ca.pem")),
    )
    await server.start()
    yield server
    await server.stop()


async def records(system: System, order_ids: list[str], table: str) -> dict[str, list[str]]:
    """Per order: its channel_notifications outcomes, or its payments' ids (sorted)."""
    column = "outcome" if table == "channel_notifications" else "payment_id::text"
    rows = await system.query(
        "tax",
        f"SELECT order_id::text AS order_id, {column} AS value FROM {table}"
        " WHERE order_id::text = ANY($1::text[]) ORDER BY 1, 2",
        order_ids,
    )
    found: dict[str, list[str]] = {order_id: [] for order_id in order_ids}
    for row in rows:
        found[row["order_id"]].append(row["value"])
    return found


@pytest.mark.timeout(300)
async def test_the_endpoint_down_ten_minutes_every_payment_applied_once_when_it_is_back(
    outage: System, wechat: ChannelServer
) -> None:
    registration = RegistrationClient(outage.channel("registration"))
    collection = CollectionClient(outage.channel("collection"))
    orders: list[col.Order] = await asyncio.gather(*(pending(registration, collection) for _ in range(ORDERS)))
    ids = [order.order_id for order in orders]
    assert "callbacks" not in outage.processes  # down: nothing listens on its port
    paid_at = time.monotonic()
    for order in orders:
        await wechat.pay(order.order_id, order.total_fen)

    async def tried_through_the_outage() -> None:
        # Every attempt of the first 10 channel minutes made (a copy of a duplicated one counts too),
        # none answered; and 10 minutes of the channel's time gone by.
        assert wechat.stats.sent >= ORDERS * TRIES_IN_OUTAGE, wechat.stats
        assert (time.monotonic() - paid_at) / TIME_SCALE >= OUTAGE_SECONDS

    await eventually(tried_through_the_outage, timeout=OUTAGE_SECONDS * TIME_SCALE * 3, interval=0.2)
    assert (wechat.stats.answered, wechat.stats.delivered, wechat.stats.gave_up) == (0, set(), 0)
    assert await records(outage, ids, "channel_notifications") == {order_id: [] for order_id in ids}

    outage.start("callbacks")
    await outage.wait_ready(["callbacks"])

    async def every_callback_delivered() -> None:
        assert wechat.stats.delivered == set(ids), wechat.stats

    # The retries after the outage: at 14 min, 34 min, 64 min of channel time (17 s to 77 s here).
    await eventually(every_callback_delivered, timeout=120, interval=0.2)
    await wechat.idle()
    assert wechat.stats.gave_up == 0
    payments = await records(outage, ids, "payments")
    assert all(len(payments[order_id]) == 1 for order_id in ids), payments
    stored = await records(outage, ids, "channel_notifications")
    for order_id in ids:
        outcomes = stored[order_id]
        # One APPLIED per order; a duplicated delivery's other copy replayed (or raced and not kept).
        assert outcomes.count("APPLIED") == 1 and set(outcomes) <= {"APPLIED", "DUPLICATE_REPLAYED"}, stored
    for order in orders:
        reply = await collection.GetOrder(
            col.GetOrderRequest(payer_id_number=order.payer_id_number, order_id=order.order_id)
        )
        assert reply.order.status == col.ORDER_STATUS_PAID
        assert [reply.order.payment_id] == payments[order.order_id]
    refunds = await outage.value(
        "tax",
        "SELECT count(*) FROM refunds r JOIN payments p USING (payment_id) WHERE p.order_id::text = ANY($1::text[])",
        ids,
    )
    assert refunds == 0
    await audit_clean(outage, timeout=60)
