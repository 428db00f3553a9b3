"""The sampled metrics read the real state (issue 13): the relay's backlog gauges count committed,
unpublished outbox rows and their age, and fall to zero once published; a consumer's lag gauge counts
the messages waiting behind the one it is working on, and its DLQ gauge what is parked."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
from aio_pika.abc import AbstractChannel
from medins.events.v1 import events_pb2
from prometheus_client import REGISTRY

from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.db import Pool
from services.common.messaging.consumer import EventConsumer
from services.common.messaging.envelope import ENROLLMENT_STOPPED
from services.common.messaging.relay import OutboxRelay
from services.common.messaging.topology import COLLECTION_ENROLLMENT_EVENTS
from services.registration.unit_of_work import RegistrationUnitOfWork
from tests.infra import TEST_RETRY_DELAYS_MS, Stack
from tests.integration.messaging_helpers import NOW, envelope, publish
from tests.support import eventually

QUEUE = COLLECTION_ENROLLMENT_EVENTS


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_the_relay_samples_its_backlog_and_oldest_age_until_published(stack: Stack, insurance_pool: Pool) -> None:
    database = f"itest-{uuid.uuid4().hex[:8]}"  # the registry is the process's: a label of this test's own
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        for n in range(3):
            await uow.outbox.add(
                ENROLLMENT_STOPPED, events_pb2.EnrollmentStopped(enrollment_id=f"e-{n}"), occurred_at=NOW
            )
        await uow.commit()
    relay = OutboxRelay(insurance_pool, stack.settings().amqp_url, TEST_RETRY_DELAYS_MS, database=database)
    stop = asyncio.Event()
    sampler = asyncio.create_task(relay.sample_backlog(stop, 0.05))

    async def backlog_seen() -> None:
        assert sample("medins_outbox_backlog_rows", database=database) == 3
        age = sample("medins_outbox_oldest_age_seconds", database=database)
        assert age is not None and age > 0

    await eventually(backlog_seen)
    running = asyncio.create_task(relay.run(stop))

    async def drained() -> None:
        assert sample("medins_outbox_published_total", database=database) == 3
        assert sample("medins_outbox_backlog_rows", database=database) == 0
        assert sample("medins_outbox_oldest_age_seconds", database=database) == 0

    try:
        await eventually(drained)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(sampler, running), timeout=30)


async def test_a_consumer_samples_the_messages_waiting_behind_it_and_its_dlq(
    stack: Stack, tax_pool: Pool, channel: AbstractChannel
) -> None:
    release = asyncio.Event()

    async def slow(event: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        await release.wait()

    consumer = EventConsumer(
        consumer="metrics-test",
        queue=QUEUE,
        uow_factory=lambda: CollectionUnitOfWork(tax_pool),
        handlers={ENROLLMENT_STOPPED.name: slow},
        amqp_url=stack.settings().amqp_url,
        retry_delays_ms=TEST_RETRY_DELAYS_MS,
        prefetch=1,
        sample_seconds=0.05,
    )
    stop, started = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(consumer.run(stop, started))
    await asyncio.wait_for(started.wait(), timeout=30)
    for n in range(5):
        event = envelope(ENROLLMENT_STOPPED, events_pb2.EnrollmentStopped(enrollment_id=f"lag-{n}"))
        await publish(channel, event.SerializeToString(), event.event_type, event.event_id)
    await channel.default_exchange.publish(aio_pika.Message(b"parked"), routing_key=QUEUE.dlq)

    async def one_in_hand_four_waiting_one_parked() -> None:
        assert sample("medins_consumer_lag_messages", queue=QUEUE.name) == 4
        assert sample("medins_dlq_depth_messages", queue=QUEUE.dlq) == 1

    async def all_applied() -> None:
        assert sample("medins_consumer_events_total", consumer="metrics-test", outcome="applied") == 5
        assert sample("medins_consumer_lag_messages", queue=QUEUE.name) == 0

    try:
        await eventually(one_in_hand_four_waiting_one_parked)
        release.set()
        await eventually(all_applied)
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(running, timeout=30)
    assert sample("medins_consumer_redeliveries_total", consumer="metrics-test") == 0
