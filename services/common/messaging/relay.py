"""The outbox relay (R31): publishes committed outbox rows with publisher confirms, then marks them.

Wakes on LISTEN/NOTIFY from the outbox trigger, with a fallback poll. Rows are locked with
FOR UPDATE SKIP LOCKED so several relays can run side by side. A row is marked published only after
the broker confirmed it; if the process dies in between, the row is published again and the
consumers' inbox absorbs the duplicate.

Metrics: rows published, and (sampled by `sample_backlog`) the backlog and its oldest row's age.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aio_pika
import asyncpg
import structlog
from aio_pika.abc import AbstractExchange
from asyncpg.pool import PoolConnectionProxy

from services.common import tracing
from services.common.db import Pool
from services.common.messaging.broker import BrokerUrls, close_quietly, open_declared_channel
from services.common.messaging.topology import EVENTS_EXCHANGE
from services.common.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        pool: Pool,
        amqp_url: BrokerUrls,
        retry_delays_ms: tuple[int, ...],
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        database: str = "default",
    ) -> None:
        self._pool = pool
        self._amqp_url = amqp_url
        self._retry_delays_ms = retry_delays_ms
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._database = database
        self._published = OUTBOX_PUBLISHED.labels(database)

    async def run(self, stop: asyncio.Event) -> None:
        """Relays until `stop` is set; survives broker and database outages."""
        opened = await open_declared_channel(self._amqp_url, self._retry_delays_ms, stop)
        if opened is None:
            return
        connection, channel = opened
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        listener: PoolConnectionProxy | None = await self._listen()
        log.info("relay_started")
        delay = 0.5
        try:
            while not stop.is_set():
                try:
                    if listener is None or _gone(listener):
                        # Its server went away (a failover): listen again, on the new primary.
                        if listener is not None:
                            await self._pool.release(listener)
                            listener = None
                        listener = await self._listen()
                    published = await self.publish_batch(exchange)
                    delay = 0.5
                except Exception as exc:  # broker or database down: keep the rows, retry later
                    log.warning("relay_publish_failed", error=f"{type(exc).__name__}: {exc}", retry_in_seconds=delay)
                    await _wait(stop, delay)
                    delay = min(delay * 2, 10.0)
                    continue
                if published < self._batch_size:
                    self._wake.clear()
                    await _wait_any(stop, self._wake, self._poll_seconds)
        finally:
            if listener is not None:
                if not _gone(listener):
                    await listener.remove_listener("outbox", self._on_notify)
                await self._pool.release(listener)  # a no-op for one the pool already took back
            await close_quietly(connection)
            log.info("relay_stopped")

    async def _listen(self) -> PoolConnectionProxy:
        """A pooled connection that wakes the relay on every committed outbox row."""
        listener = await self._pool.acquire()
        await listener.add_listener("outbox", self._on_notify)
        return listener

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def publish_batch(self, exchange: AbstractExchange) -> int:
        """Publishes up to one batch of unpublished rows; returns how many."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, event_id, event_type, envelope, correlation_id, trace_context FROM outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self._batch_size,
            )
            if not rows:
                return 0
            # Confirms are awaited together: one round trip of latency per batch, not per event.
            await asyncio.gather(*(_publish(exchange, row) for row in rows))
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        self._published.inc(len(rows))
        log.info("outbox_published", count=len(rows))
        return len(rows)

    async def sample_backlog(self, stop: asyncio.Event, every_seconds: float) -> None:
        """Sets the backlog gauges every `every_seconds` until `stop`; a failed sample keeps the last values."""
        backlog, oldest = OUTBOX_BACKLOG.labels(self._database), OUTBOX_OLDEST_AGE.labels(self._database)
        failing = False
        while not stop.is_set():
            try:
                row = await self._pool.fetchrow(
                    """SELECT count(*) AS rows, coalesce(extract(epoch FROM now() - (
                           SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1)), 0) AS age
                       FROM outbox WHERE published_at IS NULL"""
                )
            except Exception as exc:  # the database is down: logged once per outage, the relay reports the rest
                if not failing:
                    log.warning("outbox_backlog_sample_failed", error=f"{type(exc).__name__}: {exc}")
                failing = True
            else:
                assert row is not None
                backlog.set(row["rows"])
                oldest.set(float(row["age"]))
                failing = False
            await _wait(stop, every_seconds)


def _gone(listener: PoolConnectionProxy) -> bool:
    """The listening session ended: closed, or taken back by the pool when its server went away."""
    try:
        return listener.is_closed()
    except asyncpg.InterfaceError:
        return True


async def _publish(exchange: AbstractExchange, row: asyncpg.Record) -> None:
    """One row, confirmed. A row written inside a trace is published as that trace's producer span, its
    context in the message's headers (issue 24)."""
    parent = row["trace_context"]
    headers: dict[str, Any] = {"x-correlation-id": row["correlation_id"]}
    if parent:  # carried on even by a relay that does not trace itself
        headers[tracing.TRACEPARENT] = parent
    with tracing.span(
        f"{row['event_type']} publish",
        kind="PRODUCER",
        parent={tracing.TRACEPARENT: parent} if parent else None,
        attributes={"messaging.system": "rabbitmq", "messaging.message.id": str(row["event_id"])},
    ):
        await exchange.publish(
            aio_pika.Message(
                row["envelope"],
                message_id=str(row["event_id"]),
                type=row["event_type"],
                content_type="application/x-protobuf",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                headers=tracing.headers_with_context(headers) if parent else headers,
            ),
            routing_key=row["event_type"],
            mandatory=False,
            timeout=10,
        )


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
