"""Events applied in batches (issue 23, R32): deliveries that arrive while a consumer's transactions
are busy are applied together in one transaction, so a busy consumer pays BEGIN and COMMIT (and the
COMMIT's flush) once per batch instead of once per event.

No delivery waits on a timer. One that finds a free slot (fewer than `in_flight` transactions running)
is applied alone, at once, in its own task, exactly as without batches. One that finds none waits for
the next free slot and goes with every delivery waiting beside it, at most `max_batch` of them.

What holds for each event, whatever else is in its batch: its inbox row and its effect are in the one
transaction that commits them both (R32), in delivery order, so an event that depends on one earlier in
its batch sees it; a copy of an event in the same batch finds the first copy's inbox row and does
nothing. If the batch does not commit (a handler raised, a deadlock with another batch, any error),
nothing of it stands and each of its events is applied alone by its own delivery, which then retries or
dead-letters it as it would have: one bad event never fails the others. If COMMIT was sent and its
answer lost, applying alone again is safe: the inbox answers "already applied" for whatever committed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog
from medins.events.v1 import events_pb2

from services.common import tracing
from services.common.db import UnitOfWork
from services.common.logs import bind_correlation_id
from services.common.messaging.inbox import first_delivery
from services.common.metrics import CONSUMER_BATCH_SIZE
from services.common.settings import Settings

log = structlog.get_logger(__name__)

U = TypeVar("U", bound=UnitOfWork)
Handler = Callable[[events_pb2.EventEnvelope, U], Awaitable[None]]


@dataclass(frozen=True)
class BatchLimits:
    """How many transactions one consumer runs at once (each holds a connection) and how many events
    one may carry."""

    in_flight: int = 2
    max_batch: int = 32

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchLimits:
        return cls(in_flight=settings.consumer_batches_in_flight, max_batch=settings.consumer_batch_max)


class _ApplyAlone(Exception):
    """The batch did not commit: the delivery applies its event alone."""


@dataclass(eq=False)
class _Waiting(Generic[U]):
    envelope: events_pb2.EventEnvelope
    handler: Handler[U]
    traceparent: str | None
    applied: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class EventBatches(Generic[U]):
    """`apply` answers what applying one event in a transaction of its own would answer."""

    def __init__(
        self, consumer: str, uow_factory: Callable[[], U], limits: BatchLimits = BatchLimits(), database: str = ""
    ) -> None:
        self._consumer = consumer
        self._uow = uow_factory
        self._limits = limits
        self._database = database
        self._waiting: deque[_Waiting[U]] = deque()
        self._running = 0
        self._span_name = f"{database or 'database'} transaction"

    async def apply(self, envelope: events_pb2.EventEnvelope, handler: Handler[U]) -> bool:
        """Applies the event once: True when applied now, False when the inbox already had it. A
        handler's error is raised here, as the event's own, for its delivery to retry or dead-letter."""
        if self._running < self._limits.in_flight and not self._waiting:
            self._running += 1
            CONSUMER_BATCH_SIZE.labels(self._consumer).observe(1)
            try:
                return await self.apply_alone(envelope, handler)
            finally:
                self._finished()
        waiting = _Waiting(envelope, handler, tracing.current_traceparent())
        self._waiting.append(waiting)
        try:
            return await asyncio.shield(waiting.applied)
        except _ApplyAlone:
            return await self.apply_alone(envelope, handler)
        except asyncio.CancelledError:
            # The consumer is stopping: a delivery not yet in a batch leaves it (unacked, redelivered);
            # one in a batch has its effect decided by that batch's commit, like any unacked event.
            if waiting in self._waiting:
                self._waiting.remove(waiting)
            else:  # its batch answers nobody: its outcome, if an error, is not left unretrieved
                waiting.applied.add_done_callback(lambda done: done.cancelled() or done.exception())
            raise

    async def apply_alone(self, envelope: events_pb2.EventEnvelope, handler: Handler[U]) -> bool:
        """The event in a transaction of its own."""
        with tracing.span(self._span_name, kind="CLIENT", attributes=self._db_attributes()):
            async with self._uow() as uow:
                if not await first_delivery(uow.conn, self._consumer, envelope):
                    return False
                await handler(envelope, uow)
                await uow.commit()
                return True

    def _finished(self) -> None:
        self._running -= 1
        while self._waiting and self._running < self._limits.in_flight:
            batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), self._limits.max_batch))]
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            task.add_done_callback(lambda _: self._finished())

    async def _run(self, batch: list[_Waiting[U]]) -> None:
        CONSUMER_BATCH_SIZE.labels(self._consumer).observe(len(batch))
        try:
            try:
                applied = await self._apply_together(batch)
            except Exception as error:  # nothing of the batch stands: each event is applied alone
                log.warning("event_batch_failed", events=len(batch), error=f"{type(error).__name__}: {error}")
                for waiting in batch:
                    waiting.applied.set_exception(_ApplyAlone())
                return
            for waiting, was_applied in zip(batch, applied, strict=True):
                waiting.applied.set_result(was_applied)
        finally:  # the process stopping: no delivery is left waiting for ever
            for waiting in batch:
                if not waiting.applied.done():
                    waiting.applied.cancel()

    async def _apply_together(self, batch: list[_Waiting[U]]) -> list[bool]:
        attributes = {**self._db_attributes(), "messaging.batch.message_count": len(batch)}
        parent = {tracing.TRACEPARENT: batch[0].traceparent} if batch[0].traceparent else None
        with tracing.span(self._span_name, kind="CLIENT", parent=parent, attributes=attributes):
            applied: list[bool] = []
            async with self._uow() as uow:
                for waiting in batch:
                    # Its outbox rows and logs carry its own correlation id (this task's copy of it).
                    bind_correlation_id(waiting.envelope.correlation_id)
                    first = await first_delivery(uow.conn, self._consumer, waiting.envelope)
                    if first:
                        await waiting.handler(waiting.envelope, uow)
                    applied.append(first)
                await uow.commit()
            return applied

    def _db_attributes(self) -> dict[str, str | int]:
        return {"db.system.name": "postgresql", "db.namespace": self._database}
