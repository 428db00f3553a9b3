"""R31: an event is published if and only if its state change committed, even across broker outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from medins.events.v1 import events_pb2

from services.common.db import Pool
from services.common.messaging.envelope import ENROLLMENT_STOPPED, parse_envelope
from services.common.messaging.relay import OutboxRelay
from services.common.messaging.topology import COLLECTION_ENROLLMENT_EVENTS
from services.registration.unit_of_work import RegistrationUnitOfWork
from tests.infra import TEST_RETRY_DELAYS_MS, Stack
from tests.integration.messaging_helpers import NOW, broker_down_then_up, drain, wait_for_messages
from tests.support import eventually

QUEUE = COLLECTION_ENROLLMENT_EVENTS.name


@pytest.fixture
async def relay(stack: Stack, insurance_pool: Pool) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxRelay(insurance_pool, stack.settings().amqp_url, TEST_RETRY_DELAYS_MS).run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, timeout=30)


async def write_event(pool: Pool, enrollment_id: str, *, commit: bool) -> str:
    async with RegistrationUnitOfWork(pool) as uow:
        event_id = await uow.outbox.add(
            ENROLLMENT_STOPPED, events_pb2.EnrollmentStopped(enrollment_id=enrollment_id), occurred_at=NOW
        )
        if commit:
            await uow.commit()
    return event_id


async def unpublished(pool: Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def test_a_rolled_back_change_publishes_nothing(
    insurance_pool: Pool, channel: AbstractChannel, relay: None
) -> None:
    await write_event(insurance_pool, "rolled-back", commit=False)
    marker = await write_event(insurance_pool, "committed-marker", commit=True)
    messages = await wait_for_messages(channel, QUEUE, 1)
    # The marker, committed after the rolled-back event, arrived; the rolled-back one never existed.
    assert [parse_envelope(m.body).event_id for m in messages] == [marker]
    async with insurance_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1
    assert await drain(channel, QUEUE) == []


async def test_a_committed_event_is_published_once_and_marked(
    insurance_pool: Pool, channel: AbstractChannel, relay: None
) -> None:
    event_id = await write_event(insurance_pool, "e-1", commit=True)
    (message,) = await wait_for_messages(channel, QUEUE, 1)
    envelope = parse_envelope(message.body)
    assert envelope.event_id == event_id == message.message_id
    assert envelope.enrollment_stopped.enrollment_id == "e-1"
    assert message.headers["x-correlation-id"] == envelope.correlation_id

    async def marked() -> None:
        assert await unpublished(insurance_pool) == 0

    await eventually(marked)
    assert await drain(channel, QUEUE) == []


async def test_many_events_are_each_published_exactly_once(
    insurance_pool: Pool, channel: AbstractChannel, relay: None
) -> None:
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        await uow.outbox.add_many(
            ENROLLMENT_STOPPED,
            [events_pb2.EnrollmentStopped(enrollment_id=f"e-{i}") for i in range(1200)],
            occurred_at=NOW,
        )
        await uow.commit()
    messages = await wait_for_messages(channel, QUEUE, 1200, timeout=60)
    ids = [parse_envelope(m.body).enrollment_stopped.enrollment_id for m in messages]
    assert sorted(ids) == sorted(f"e-{i}" for i in range(1200))


async def test_an_event_committed_while_the_broker_is_down_is_published_when_it_is_back(
    insurance_pool: Pool, stack: Stack, relay: None
) -> None:
    committed: list[str] = []

    async def commit_while_down() -> None:
        committed.append(await write_event(insurance_pool, "during-outage", commit=True))
        assert await unpublished(insurance_pool) == 1

    await broker_down_then_up(commit_while_down)

    async def published() -> None:
        assert await unpublished(insurance_pool) == 0

    await eventually(published, timeout=90)

    connection = await aio_pika.connect_robust(stack.settings().amqp_url)
    try:
        channel = await connection.channel()
        messages = await wait_for_messages(channel, QUEUE, 1, timeout=30)
        assert [parse_envelope(m.body).event_id for m in messages] == committed
    finally:
        await connection.close()


async def test_the_relay_listens_again_when_its_listening_session_is_cut(
    stack: Stack, insurance_pool: Pool, channel: AbstractChannel, relay: None
) -> None:
    """Issue 24: a failover ends every session, the relay's LISTEN among them; it listens again and goes on
    publishing (every row, woken or polled), never stuck on the session that is gone."""
    await write_event(insurance_pool, "before-the-cut", commit=True)
    await wait_for_messages(channel, QUEUE, 1)
    async with insurance_pool.acquire() as conn:
        cut = await conn.fetchval(
            """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"""
        )
    assert cut == 1
    for k in range(3):
        await write_event(insurance_pool, f"after-the-cut-{k}", commit=True)
    await wait_for_messages(channel, QUEUE, 3)

    async def listening_again() -> None:
        async with insurance_pool.acquire() as conn:
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
                == 1
            )

    async def all_marked_published() -> None:  # marked once the broker confirmed them, just after delivery
        assert await unpublished(insurance_pool) == 0

    await eventually(listening_again)
    await eventually(all_marked_published)
