"""The event backlog the soak watches (benchmarks/load_soak.py): events written and events still on their
way, read from both agencies' outboxes and the consumer queues. A rate the machine sustains is one at
which the relays and consumers keep up: the backlog does not grow."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.common.messaging.topology import CONSUMER_QUEUES
from services.common.settings import Settings

CONNECT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class BacklogSample:
    """At `second` of the run: `written` outbox rows ever written (both agencies), `waiting` of them not yet
    consumed (outbox rows not yet published plus messages ready in the consumer queues)."""

    second: float
    written: int
    waiting: int


class BacklogReader:
    """Two database connections and one broker channel, held open while the probe runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._databases: list[asyncpg.Connection] = []
        self._broker: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None

    async def __aenter__(self) -> BacklogReader:
        for dsn in (self._settings.tax_dsn, self._settings.insurance_dsn):
            self._databases.append(await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS))
        self._broker = await aio_pika.connect_robust(self._settings.broker_urls[0], timeout=CONNECT_TIMEOUT_SECONDS)
        self._channel = await self._broker.channel()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        for connection in self._databases:
            await connection.close()
        if self._broker is not None:
            await self._broker.close()

    async def sample(self, started_ns: int) -> BacklogSample:
        written = waiting = 0
        for connection in self._databases:
            row = await connection.fetchrow(
                """SELECT coalesce((SELECT max(id) FROM outbox), 0) AS written,
                          (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished"""
            )
            assert row is not None
            written += row["written"]
            waiting += row["unpublished"]
        assert self._channel is not None
        for consumer in CONSUMER_QUEUES:
            queue = await self._channel.declare_queue(consumer.name, passive=True)
            waiting += queue.declaration_result.message_count or 0
        return BacklogSample(round((time.perf_counter_ns() - started_ns) / 1e9, 1), written, waiting)
