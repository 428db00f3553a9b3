"""R32: consumers are idempotent; failures retry with back-off, then park in the DLQ with the reason;
a poison message never blocks the queue."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel
from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.collection.enrollment_events import enrollment_event_handlers
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool
from services.common.messaging.consumer import ATTEMPT_HEADER, DEAD_LETTER_REASON_HEADER, EventConsumer
from services.common.messaging.dead_letters import ParkedMessage, peek, replay
from services.common.messaging.envelope import ENROLLMENT_REGISTERED, ENROLLMENT_STOPPED, EventNotReady
from services.common.messaging.event_batches import Handler
from services.common.messaging.topology import COLLECTION_ENROLLMENT_EVENTS
from services.common.proto_values import date_to_proto, range_to_proto
from tests.factories import resident_id
from tests.infra import TEST_RETRY_DELAYS_MS, Stack
from tests.integration.messaging_helpers import NOW, broker_down_then_up, envelope, publish, wait_for_messages
from tests.support import eventually

D = dt.date
QUEUE = COLLECTION_ENROLLMENT_EVENTS
RunConsumer = Callable[[Mapping[str, Handler[CollectionUnitOfWork]]], Awaitable[None]]


@pytest.fixture
async def run_consumer(stack: Stack, tax_pool: Pool) -> AsyncIterator[RunConsumer]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(handlers: Mapping[str, Handler[CollectionUnitOfWork]]) -> None:
        consumer = EventConsumer(
            consumer="collection",
            queue=QUEUE,
            uow_factory=lambda: CollectionUnitOfWork(tax_pool),
            handlers=handlers,
            amqp_url=stack.settings().amqp_url,
            retry_delays_ms=TEST_RETRY_DELAYS_MS,
        )
        tasks.append(asyncio.create_task(consumer.run(stop)))

    yield start
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


def registered(number: str, enrollment_id: str = "5b2c9a48-0d6e-4c43-9a55-3a7b8f1d2e01") -> events_pb2.EventEnvelope:
    return envelope(
        ENROLLMENT_REGISTERED,
        events_pb2.EnrollmentRegistered(
            enrollment_id=enrollment_id,
            enrollment_sequence=1,
            person=events_pb2.InsuredPerson(
                resident_id_number=number, name="赵六", birth_date=date_to_proto(D(1980, 1, 1))
            ),
            region_code="340800",
            category=common_pb2.CATEGORY_NON_EMPLOYED,
            assessments=[
                events_pb2.AssessmentBasis(
                    insurance_year=2024,
                    fee_type=common_pb2.FEE_TYPE_RESIDENT_MEDICAL,
                    standard_fen=38000,
                    policy_version=1,
                    collection_window=range_to_proto(D(2023, 9, 1), D(2023, 12, 31)),
                    coverage_period=range_to_proto(D(2024, 1, 1), D(2024, 12, 31)),
                )
            ],
        ),
    )


async def count(pool: Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))


async def test_a_redelivered_event_creates_nothing_twice(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    await run_consumer(enrollment_event_handlers(FixedClock(NOW)))
    event = registered(resident_id())
    for _ in range(3):  # the broker delivers the same event three times
        await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    async def settled() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM inbox") == 1
        assert await channel.declare_queue(QUEUE.name, passive=True) and (
            (await channel.declare_queue(QUEUE.name, passive=True)).declaration_result.message_count == 0
        )

    await eventually(settled)
    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1
    assert await count(tax_pool, "SELECT amount_fen FROM payable_items") == 38000


async def test_a_poison_message_goes_to_the_dlq_with_its_reason_and_the_next_event_is_processed(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    await run_consumer(enrollment_event_handlers(FixedClock(NOW)))
    await publish(channel, b"\x00not a protobuf envelope\xff", "enrollment.registered", "poison-1")
    good = registered(resident_id())
    await publish(channel, good.SerializeToString(), good.event_type, good.event_id)

    (parked,) = await wait_for_messages(channel, QUEUE.dlq, 1)
    assert parked.message_id == "poison-1"
    assert "not an EventEnvelope" in str(parked.headers[DEAD_LETTER_REASON_HEADER])

    async def good_applied() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

    await eventually(good_applied)


async def test_an_event_with_impossible_figures_is_parked_at_once(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    await run_consumer(enrollment_event_handlers(FixedClock(NOW)))
    bad = registered(resident_id())
    bad.enrollment_registered.assessments[0].subsidy_fen = 99999  # more than the standard
    await publish(channel, bad.SerializeToString(), bad.event_type, bad.event_id)
    (parked,) = await wait_for_messages(channel, QUEUE.dlq, 1)
    assert "subsidy 99999 outside 0..38000" in str(parked.headers[DEAD_LETTER_REASON_HEADER])
    assert ATTEMPT_HEADER not in (parked.headers or {})  # no retries were wasted on it
    assert await count(tax_pool, "SELECT count(*) FROM inbox") == 0


async def test_a_transient_failure_is_retried_with_back_off_and_applied_once(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    attempts: list[int] = []
    real = enrollment_event_handlers(FixedClock(NOW))[ENROLLMENT_REGISTERED.name]

    async def flaky(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        await real(env, uow)  # the effect is written, then the transaction fails and rolls back
        if len(attempts) <= 2:
            raise ConnectionError("tax database hiccup")

    await run_consumer({ENROLLMENT_REGISTERED.name: flaky})
    event = registered(resident_id())
    await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    async def applied() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

    await eventually(applied)
    assert attempts == [1, 2, 3]
    assert await count(tax_pool, "SELECT count(*) FROM inbox") == 1


async def test_a_failure_that_outlasts_every_retry_is_dead_lettered_with_the_last_error(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    calls: list[str] = []

    async def always_failing(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        calls.append(env.event_id)
        raise RuntimeError("downstream refuses")

    await run_consumer({ENROLLMENT_STOPPED.name: always_failing})
    event = envelope(ENROLLMENT_STOPPED, events_pb2.EnrollmentStopped(enrollment_id="e"))
    await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    (parked,) = await wait_for_messages(channel, QUEUE.dlq, 1)
    reason = str(parked.headers[DEAD_LETTER_REASON_HEADER])
    assert f"failed {len(TEST_RETRY_DELAYS_MS) + 1} times" in reason and "downstream refuses" in reason
    assert len(calls) == len(TEST_RETRY_DELAYS_MS) + 1
    assert parked.headers["x-original-routing-key"] == "enrollment.stopped"


async def test_an_early_event_waits_past_every_retry_tier_until_what_it_depends_on_arrives(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    """R17a: an event that is early is retried for as long as it may still be early, never parked
    for its number of attempts; here it waits through three times as many tries as there are tiers."""
    tries = 3 * len(TEST_RETRY_DELAYS_MS) + 1
    attempts: list[int] = []
    real = enrollment_event_handlers(FixedClock(NOW))[ENROLLMENT_REGISTERED.name]

    async def waiting(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < tries:
            raise EventNotReady("the stop this registration waits for has not arrived")
        await real(env, uow)

    await run_consumer({ENROLLMENT_REGISTERED.name: waiting})
    event = registered(resident_id())
    await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    async def applied() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

    await eventually(applied, timeout=30)
    assert len(attempts) == tries
    assert (await channel.declare_queue(QUEUE.dlq, passive=True)).declaration_result.message_count == 0


async def test_a_database_failing_over_parks_nothing_however_long_it_takes(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    """Issue 24: while no node accepts writes (a failover) the event is not at fault: its tries are
    not counted out by the retry tiers, and it is applied once the database is back."""
    tries = 3 * len(TEST_RETRY_DELAYS_MS) + 1
    attempts: list[int] = []
    real = enrollment_event_handlers(FixedClock(NOW))[ENROLLMENT_REGISTERED.name]

    async def failing_over(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) < tries:
            raise asyncpg.TargetServerAttributeNotMatched("none of the hosts accepts read-write sessions")
        await real(env, uow)

    await run_consumer({ENROLLMENT_REGISTERED.name: failing_over})
    event = registered(resident_id())
    await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    async def applied() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

    # Every try waits at the first tier: all of them fit in less than the tiers' sum for one pass each.
    await eventually(applied, timeout=tries * TEST_RETRY_DELAYS_MS[0] / 1000 + 10)
    assert len(attempts) == tries
    assert (await channel.declare_queue(QUEUE.dlq, passive=True)).declaration_result.message_count == 0


async def test_a_parked_event_is_visible_and_replays_once_its_cause_is_fixed(
    run_consumer: RunConsumer, channel: AbstractChannel, tax_pool: Pool
) -> None:
    broken = True
    real = enrollment_event_handlers(FixedClock(NOW))[ENROLLMENT_REGISTERED.name]

    async def until_fixed(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        if broken:
            raise RuntimeError("policy table missing")
        await real(env, uow)

    await run_consumer({ENROLLMENT_REGISTERED.name: until_fixed})
    event = registered(resident_id())
    await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

    async def parked() -> list[ParkedMessage]:
        found = await peek(channel, QUEUE)
        assert found
        return found

    (seen,) = await eventually(parked)
    assert (seen.message_id, seen.event_type) == (event.event_id, "enrollment.registered")
    assert "policy table missing" in seen.reason
    assert len(await peek(channel, QUEUE)) == 1  # peeking leaves it parked

    broken = False
    assert await replay(channel, QUEUE) == 1

    async def applied() -> None:
        assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

    await eventually(applied)
    assert await peek(channel, QUEUE) == []


async def test_the_consumer_resumes_after_a_broker_restart_and_still_stops_cleanly(
    stack: Stack, tax_pool: Pool
) -> None:
    stop = asyncio.Event()
    consumer = EventConsumer(
        consumer="collection",
        queue=QUEUE,
        uow_factory=lambda: CollectionUnitOfWork(tax_pool),
        handlers=enrollment_event_handlers(FixedClock(NOW)),
        amqp_url=stack.settings().amqp_url,
        retry_delays_ms=TEST_RETRY_DELAYS_MS,
    )
    task = asyncio.create_task(consumer.run(stop))

    async def nothing_while_down() -> None:
        return None

    await broker_down_then_up(nothing_while_down)
    connection = await aio_pika.connect_robust(stack.settings().amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        event = registered(resident_id())
        await publish(channel, event.SerializeToString(), event.event_type, event.event_id)

        async def applied() -> None:
            assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 1

        await eventually(applied, timeout=60)
    finally:
        await connection.close()
    stop.set()
    await asyncio.wait_for(task, timeout=30)  # raises if the consumer's stop path failed


async def test_a_consumer_told_to_stop_while_the_broker_is_down_stops_cleanly(stack: Stack, tax_pool: Pool) -> None:
    stop = asyncio.Event()
    consumer = EventConsumer(
        consumer="collection",
        queue=QUEUE,
        uow_factory=lambda: CollectionUnitOfWork(tax_pool),
        handlers=enrollment_event_handlers(FixedClock(NOW)),
        amqp_url=stack.settings().amqp_url,
        retry_delays_ms=TEST_RETRY_DELAYS_MS,
    )
    connected = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop, started=connected))
    await asyncio.wait_for(connected.wait(), timeout=30)

    async def stop_while_down() -> None:
        stop.set()
        await asyncio.wait_for(task, timeout=30)  # raises if the stop path failed

    await broker_down_then_up(stop_while_down)
