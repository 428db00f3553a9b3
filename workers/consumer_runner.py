"""Runs one event consumer as a process: settings, logging, pool, consumer, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TypeVar

from services.common import lifecycle
from services.common.clock import Clock, clock_from_file
from services.common.db import Pool, UnitOfWork, close_pool, create_pool, database_name
from services.common.logs import configure_logging
from services.common.messaging.consumer import EventConsumer
from services.common.messaging.event_batches import BatchLimits, Handler
from services.common.messaging.topology import ConsumerQueue
from services.common.metrics import serve_metrics
from services.common.settings import Settings
from services.common.tracing import configure_tracing

U = TypeVar("U", bound=UnitOfWork)


def run_consumer(
    *,
    service: str,
    consumer: str,
    queue: ConsumerQueue,
    dsn: Callable[[Settings], str],
    uow_factory: Callable[[Pool], U],
    handlers: Callable[[Clock], Mapping[str, Handler[U]]],
) -> None:
    settings = Settings()
    configure_logging(service, settings.log_level)
    configure_tracing(service)
    serve_metrics(settings.metrics_port, settings.listen_host)
    clock = clock_from_file(settings.clock_file)

    async def run(stop: asyncio.Event) -> None:
        pool = await create_pool(
            dsn(settings), min_size=1, max_size=settings.db_pool_max, idle_seconds=settings.db_pool_idle_seconds
        )
        try:
            await EventConsumer(
                consumer=consumer,
                queue=queue,
                uow_factory=lambda: uow_factory(pool),
                handlers=handlers(clock),
                amqp_url=settings.broker_urls,
                retry_delays_ms=settings.retry_delays_ms,
                prefetch=settings.consumer_prefetch,
                # Queue depths are sampled only for a process that serves its metrics.
                sample_seconds=settings.metrics_sample_seconds if settings.metrics_port else None,
                database=database_name(dsn(settings)),
                batches=BatchLimits.from_settings(settings),
            ).run(stop)
        finally:
            await close_pool(pool)

    lifecycle.run(run)
