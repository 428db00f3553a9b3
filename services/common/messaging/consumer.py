"""An idempotent event consumer (R32) with retries on back-off tiers and a dead-letter queue.

For each delivery: parse the envelope (unparseable → DLQ at once), open a unit of work, record the
event id in the inbox (already there → a redelivery: do nothing), apply the handler, commit, then ack.
A busy consumer applies the deliveries waiting beside each other in one transaction
(services/common/messaging/event_batches.py), each event with exactly the guarantees it has alone.
A failing handler sends the message to the next retry tier with its attempt count; after the last tier
it goes to the DLQ with the reason. The original is acked only after its copy was confirmed by the
broker, so a message is never lost and never blocks the queue behind it.

Metrics: deliveries by outcome and redeliveries; with `sample_seconds`, the depth of its queue (the lag)
and of its DLQ, read by a passive declare on a channel of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from medins.events.v1 import events_pb2
from pamqp.common import FieldTable

from services.common import tracing
from services.common.db import DATABASE_UNREACHABLE, UnitOfWork
from services.common.logs import bind_correlation_id
from services.common.messaging.broker import CLOSE_TIMEOUT_SECONDS, BrokerUrls, close_quietly, open_declared_channel
from services.common.messaging.envelope import EventNotReady, UnprocessableEvent, parse_envelope
from services.common.messaging.event_batches import BatchLimits, EventBatches, Handler
from services.common.messaging.topology import ConsumerQueue
from services.common.metrics import CONSUMER_EVENTS, CONSUMER_LAG, CONSUMER_REDELIVERIES, DLQ_DEPTH

log = structlog.get_logger(__name__)

U = TypeVar("U", bound=UnitOfWork)

ATTEMPT_HEADER = "x-attempt"
ERROR_HEADER = "x-last-error"
DEAD_LETTER_REASON_HEADER = "x-dead-letter-reason"
FIRST_FAILURE_HEADER = "x-first-failure"  # wall-clock seconds: how long an early event has waited
# An event waiting for another (R17a) is parked only after waiting longer than relays, retry tiers and
# a broker outage can explain; then an operator must see it (R32).
MAX_WAIT_FOR_ORDER = dt.timedelta(hours=24)


class EventConsumer(Generic[U]):
    def __init__(
        self,
        *,
        consumer: str,
        queue: ConsumerQueue,
        uow_factory: Callable[[], U],
        handlers: Mapping[str, Handler[U]],
        amqp_url: BrokerUrls,
        retry_delays_ms: tuple[int, ...],
        prefetch: int = 32,
        max_wait_for_order: dt.timedelta = MAX_WAIT_FOR_ORDER,
        sample_seconds: float | None = None,
        database: str = "",
        batches: BatchLimits | None = None,
    ) -> None:
        self._consumer = consumer
        self._queue = queue
        self._uow_factory = uow_factory
        self._handlers = handlers
        self._amqp_url = amqp_url
        self._retry_delays_ms = retry_delays_ms
        self._prefetch = prefetch
        self._max_wait_for_order = max_wait_for_order
        self._in_flight: set[asyncio.Task[None]] = set()
        self._batches = EventBatches(consumer, uow_factory, batches or BatchLimits(), database)
        self._sample_seconds = sample_seconds
        # Created at start, so each series shows (at 0) before its first event.
        self._outcomes = {
            outcome: CONSUMER_EVENTS.labels(consumer, outcome)
            for outcome in ("applied", "duplicate", "retried", "dead_lettered")
        }
        self._redeliveries = CONSUMER_REDELIVERIES.labels(consumer)

    async def run(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        """Consumes until `stop` is set, then lets in-flight messages finish. `started` is set once
        consuming has begun."""
        opened = await open_declared_channel(self._amqp_url, self._retry_delays_ms, stop)
        if opened is None:
            return
        connection, channel = opened
        sampler = (
            asyncio.create_task(self._sample_depths(connection, stop, self._sample_seconds))
            if self._sample_seconds
            else None
        )
        try:
            await channel.set_qos(prefetch_count=self._prefetch)
            self._channel: AbstractChannel = channel
            queue = await channel.get_queue(self._queue.name)
            tag = await queue.consume(self._on_message)
            log.info("consumer_started", queue=self._queue.name, prefetch=self._prefetch)
            if started is not None:
                started.set()
            await stop.wait()
            try:
                await asyncio.wait_for(queue.cancel(tag), timeout=CLOSE_TIMEOUT_SECONDS)
            except Exception as exc:  # the channel went down with the broker: there is nothing to cancel
                log.warning("consumer_cancel_failed", queue=self._queue.name, error=f"{type(exc).__name__}: {exc}")
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=30)
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            await close_quietly(connection)
            log.info("consumer_stopped", queue=self._queue.name)

    async def _sample_depths(self, connection: AbstractRobustConnection, stop: asyncio.Event, every: float) -> None:
        """Sets the lag and DLQ depth gauges every `every` seconds; a failed sample keeps the last values."""
        gauges = (
            (CONSUMER_LAG.labels(self._queue.name), self._queue.name),
            (DLQ_DEPTH.labels(self._queue.dlq), self._queue.dlq),
        )
        channel = None
        failing = False
        while not stop.is_set():
            try:
                if channel is None or channel.is_closed:
                    channel = await connection.channel()
                for gauge, name in gauges:
                    # Not robust: a robust passive declare is cached and would never count again.
                    queue = await channel.declare_queue(name, passive=True, robust=False)
                    gauge.set(queue.declaration_result.message_count or 0)
                failing = False
            except Exception as exc:  # the broker is away: logged once per outage, the consumer reports the rest
                if not failing:
                    log.warning(
                        "queue_depth_sample_failed", queue=self._queue.name, error=f"{type(exc).__name__}: {exc}"
                    )
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self.handle_delivery(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def handle_delivery(self, message: AbstractIncomingMessage) -> None:
        if message.redelivered:
            self._redeliveries.inc()
        headers = message.headers or {}
        bind_correlation_id(str(headers.get("x-correlation-id") or ""))
        try:
            envelope = parse_envelope(message.body)
        except UnprocessableEvent as exc:
            await self._dead_letter(message, str(exc))
            return
        bind_correlation_id(envelope.correlation_id)
        handler = self._handlers.get(envelope.event_type)
        if handler is None:
            await self._dead_letter(message, f"{self._consumer} has no handler for {envelope.event_type}")
            return
        try:
            with tracing.span(
                f"{envelope.event_type} process",
                kind="CONSUMER",
                parent=headers if tracing.TRACEPARENT in headers else None,
                attributes={"messaging.system": "rabbitmq", "messaging.consumer.group.name": self._consumer},
            ):
                applied = await self._batches.apply(envelope, handler)
        except UnprocessableEvent as exc:
            await self._dead_letter(message, str(exc))
            return
        except Exception as exc:
            await self._retry_or_dead_letter(message, envelope, exc)
            return
        await message.ack()
        self._outcomes["applied" if applied else "duplicate"].inc()
        if not applied and not message.redelivered:  # a copy the broker did not know it had delivered
            self._redeliveries.inc()
        log.info(
            "event_applied" if applied else "event_redelivery_ignored",
            event_type=envelope.event_type,
            event_id=envelope.event_id,
        )

    async def _retry_or_dead_letter(
        self, message: AbstractIncomingMessage, envelope: events_pb2.EventEnvelope, exc: Exception
    ) -> None:
        previous = int(str((message.headers or {}).get(ATTEMPT_HEADER) or 0))
        attempt = previous + 1
        error = f"{type(exc).__name__}: {exc}"[:500]
        first_failed = float(str((message.headers or {}).get(FIRST_FAILURE_HEADER) or time.time()))
        waiting = time.time() - first_failed < self._max_wait_for_order.total_seconds()
        if isinstance(exc, EventNotReady) and waiting:
            # Waits at the longest tier for the event it depends on, not counted out by attempts.
            attempt = min(attempt, len(self._retry_delays_ms))
        elif isinstance(exc, DATABASE_UNREACHABLE) and waiting:
            # Not the event's fault (a failover, a restart, a full server, issue 24): the attempt is not
            # counted, so an outage parks nothing and the event is tried again soon after it ends.
            attempt = max(previous, 1)
        if attempt > len(self._retry_delays_ms):
            log.error("event_failed_dead_lettered", event_id=envelope.event_id, attempts=attempt, error=error)
            await self._dead_letter(message, f"failed {attempt} times; last error: {error}")
            return
        delay = self._retry_delays_ms[attempt - 1]
        self._outcomes["retried"].inc()
        log.warning("event_failed_will_retry", event_id=envelope.event_id, attempt=attempt, delay_ms=delay, error=error)
        await self._forward(
            message,
            self._queue.retry_queue(delay),
            {ATTEMPT_HEADER: attempt, ERROR_HEADER: error, FIRST_FAILURE_HEADER: str(first_failed)},
        )

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        log.error("event_dead_lettered", queue=self._queue.dlq, reason=reason, message_id=message.message_id)
        self._outcomes["dead_lettered"].inc()
        await self._forward(message, self._queue.dlq, {DEAD_LETTER_REASON_HEADER: reason, "x-consumer": self._consumer})

    async def _forward(self, message: AbstractIncomingMessage, queue_name: str, extra_headers: FieldTable) -> None:
        """Publishes a copy to `queue_name` (confirmed), then acks the original."""
        headers = dict(message.headers or {})
        # After a hop through a retry tier the routing key is a queue name; keep the event's own.
        headers.setdefault("x-original-routing-key", message.routing_key or "")
        headers.update(extra_headers)
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            message_id=message.message_id,
            type=message.type,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self._channel.default_exchange.publish(copy, routing_key=queue_name, timeout=10)
        except Exception as exc:
            # The broker did not take the copy: leave the original to be redelivered.
            log.warning("event_forward_failed", queue=queue_name, error=f"{type(exc).__name__}: {exc}")
            if not message.channel.is_closed:
                await message.nack(requeue=True)
            return
        await message.ack()
