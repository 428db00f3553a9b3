"""SPEC scenario 6: a worker killed mid-processing and the broker restarted during a run of thousands
of notifications; afterwards every committed payment has exactly one confirmation and one grant."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.domain.model import Channel
from services.common.resident_id import check_character
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import System
from tests.integration.messaging_helpers import rabbitmqctl
from tests.support import eventually

T = TypeVar("T")
REGION = "349904"
PEOPLE = 1_000
CONCURRENCY = 40


def person(i: int) -> str:
    body = f"{REGION}{dt.date(1970, 1, 1) + dt.timedelta(days=i):%Y%m%d}{i % 1000:03d}"
    return body + check_character(body)


async def bounded(calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def test_scenario_6_kill_a_worker_and_restart_the_broker_mid_run(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    await create_region(
        registration, REGION, "韧性测试市", policy(REGION, 2024, 38000, (dt.date(2023, 9, 1), dt.date(2023, 12, 31)))
    )
    numbers = [person(i) for i in range(PEOPLE)]
    for start in range(0, PEOPLE, 1000):
        await registration.BatchRegisterResidents(
            reg.BatchRegisterResidentsRequest(
                request_id=new_request_id(),
                batch_id="resilience",
                submitter_code=REGION,
                rows=[
                    reg.RegistrationRow(
                        row_number=i + 1,
                        resident_id_number=numbers[i],
                        name=f"韧{i}",
                        phone="13500135000",
                        region_code=REGION,
                        category=common_pb2.CATEGORY_NON_EMPLOYED,
                        evidence=[reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref=f"d{i}")],
                    )
                    for i in range(start, min(start + 1000, PEOPLE))
                ],
            )
        )

    async def assessed() -> None:
        count = await system.value("tax", "SELECT count(*) FROM payable_items WHERE region_code = $1", REGION)
        assert count == PEOPLE

    await eventually(assessed, timeout=120)
    items = await bounded(
        [
            lambda n=n, i=i: collection.ListPayableItems(  # type: ignore[misc]
                col.ListPayableItemsRequest(payer_id_number=n, insured_id_number=n, insured_name=f"韧{i}")
            )
            for i, n in enumerate(numbers)
        ]
    )
    orders = await bounded(
        [
            lambda n=n, reply=reply: collection.CreateOrder(  # type: ignore[misc]
                col.CreateOrderRequest(
                    request_id=new_request_id(),
                    payer_id_number=n,
                    payable_item_ids=[reply.payable_items[0].payable_item_id],
                )
            )
            for n, reply in zip(numbers, items, strict=True)
        ]
    )
    notifications = [
        channels.notification(
            Channel.WECHAT, channels.wechat(o.order.order_id, 38000, START, transaction_id=f"4200r{k:08d}")
        )
        for k, o in enumerate(orders)
    ]
    # Every notification twice (the channel resends), in a shuffled but fixed order.
    sends = [notifications[(k * 7919) % PEOPLE] for k in range(2 * PEOPLE)]

    async def trouble() -> None:
        await eventually(lambda: _progress(system, PEOPLE // 4), timeout=120, interval=0.02)
        await asyncio.to_thread(system.kill, "coverage")
        await asyncio.to_thread(system.kill, "outbox-relay-tax")
        await eventually(lambda: _progress(system, PEOPLE // 2), timeout=120, interval=0.02)
        system.start("outbox-relay-tax")
        await asyncio.to_thread(rabbitmqctl, "stop_app")
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")
        system.start("coverage")

    replies, _ = await asyncio.gather(
        bounded([lambda request=request: collection.NotifyPayment(request) for request in sends]),  # type: ignore[misc]
        trouble(),
    )
    await system.wait_ready(["coverage", "outbox-relay-tax"], timeout=120)
    applied = {r.payment_id for r in replies if r.outcome == col.NOTIFICATION_OUTCOME_APPLIED}
    assert len(applied) == PEOPLE  # each order paid once, the resend got the same answer

    confirmed: dict[str, int] = {}
    for row in await system.query("tax", "SELECT envelope FROM outbox WHERE event_type = 'payment.confirmed'"):
        payment_id = events_pb2.EventEnvelope.FromString(row[0]).payment_confirmed.payment_id
        if payment_id in applied:
            confirmed[payment_id] = confirmed.get(payment_id, 0) + 1
    assert len(confirmed) == PEOPLE and set(confirmed.values()) == {1}
    receipts = await system.value(
        "tax",
        "SELECT count(*) FROM receipts WHERE payment_id = ANY($1::uuid[])",
        list(applied),
    )
    assert receipts == PEOPLE

    async def granted_once_each() -> None:
        rows = await system.query(
            "insurance",
            """SELECT y.paid_by_payment_id, count(*) FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
               WHERE e.region_code = $1 AND y.status = 'COVERED' GROUP BY y.paid_by_payment_id""",
            REGION,
        )
        assert {r[0]: r[1] for r in rows} == dict.fromkeys(applied, 1)

    await eventually(granted_once_each, timeout=180)


async def _progress(system: System, at_least: int) -> None:
    done = await system.value(
        "tax",
        "SELECT count(*) FROM payments p JOIN orders o USING (order_id) WHERE o.payer_id_number LIKE $1",
        f"{REGION}%",
    )
    assert done >= at_least
