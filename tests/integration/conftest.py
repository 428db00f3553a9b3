"""Integration tests use real PostgreSQL and RabbitMQ: one stack per run, tables emptied per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.common.db import Pool, create_pool
from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import CONSUMER_QUEUES, UNROUTED_QUEUE
from tests.infra import TEST_RETRY_DELAYS_MS, Stack, create_stack, drop_stack, remove_leftovers


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    await remove_leftovers()
    created = Stack("int")
    await create_stack(created)
    yield created
    await drop_stack(created)


# The session's pools outlive the integration tests: what they do not use goes back to the server (its
# connections are shared with the end-to-end systems that run after them).
IDLE_SECONDS = 5.0


@pytest.fixture(scope="session")
async def insurance_pool(stack: Stack) -> AsyncIterator[Pool]:
    pool = await create_pool(
        stack.settings().insurance_dsn, min_size=1, max_size=10, attempts=3, idle_seconds=IDLE_SECONDS
    )
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def tax_pool(stack: Stack) -> AsyncIterator[Pool]:
    pool = await create_pool(stack.settings().tax_dsn, min_size=1, max_size=10, attempts=3, idle_seconds=IDLE_SECONDS)
    yield pool
    await pool.close()


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[AbstractRobustConnection]:
    """A connection per test: one shared by the session could be reconnecting after a broker restart."""
    connection = await connect_broker(stack.settings().amqp_url, attempts=20)
    yield connection
    await connection.close()


@pytest.fixture
async def channel(broker: AbstractRobustConnection) -> AsyncIterator[AbstractChannel]:
    channel = await broker.channel(publisher_confirms=True)
    yield channel
    await channel.close()


async def _empty_tables(pool: Pool) -> None:
    async with pool.acquire() as conn:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
        )
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(autouse=True)
async def clean_state(stack: Stack, insurance_pool: Pool, tax_pool: Pool) -> None:
    """Every integration test starts with empty tables and empty queues. A connection of its own: the
    session's may still be reconnecting after a test that restarted the broker."""
    await _empty_tables(insurance_pool)
    await _empty_tables(tax_pool)
    connection = await connect_broker(stack.settings().amqp_url, attempts=20)
    try:
        channel = await connection.channel()
        for consumer in CONSUMER_QUEUES:
            for name in (consumer.name, consumer.dlq, *(consumer.retry_queue(d) for d in TEST_RETRY_DELAYS_MS)):
                await (await channel.get_queue(name)).purge()
        await (await channel.get_queue(UNROUTED_QUEUE)).purge()
    finally:
        await connection.close()
