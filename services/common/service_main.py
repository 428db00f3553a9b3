"""The composition root every gRPC service shares: settings, logging, clock, database, server,
graceful stop. Each service says only what it serves."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import Callable, Coroutine
from typing import Any

from services.common import lifecycle
from services.common.clock import Clock, clock_from_file
from services.common.db import Database, Pool
from services.common.grpc_server import GrpcService, serve
from services.common.logs import configure_logging
from services.common.metrics import serve_metrics
from services.common.pagination import PageTokens
from services.common.person_trail_api import person_trail_service
from services.common.settings import Settings, load_settings
from services.common.tls import ServerSecurity
from services.common.tracing import configure_tracing

Background = Callable[[Pool, asyncio.Event], Coroutine[Any, Any, None]]


def run_grpc_service(
    *,
    name: str,
    port: Callable[[Settings], int],
    dsn: Callable[[Settings], str],
    build: Callable[[Database, Clock, Settings], GrpcService],
    quiet_methods: frozenset[str] = frozenset(),
    background: Background | None = None,
    person_trail: bool = False,
) -> None:
    """Runs one service until SIGTERM/SIGINT; `background` (e.g. a log writer) runs while it serves;
    `person_trail` serves the officers' PersonTrailService over the same database beside it (R35)."""
    settings = load_settings()
    configure_logging(name, settings.log_level)
    configure_tracing(name)
    serve_metrics(settings.metrics_port, settings.listen_host)
    clock = clock_from_file(settings.clock_file)
    page_tokens = PageTokens(
        settings.page_token_key.encode(), clock.now, dt.timedelta(seconds=settings.page_token_ttl_seconds)
    )
    db = Database(
        dsn(settings),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        idle_seconds=settings.db_pool_idle_seconds,
    )
    service = build(db, clock, settings)
    background_stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        await db.connect()
        # Everything alive now (modules, descriptors, the pool) lives as long as the process: keep it out
        # of garbage collections, whose full passes would otherwise show up as latency spikes.
        gc.collect()
        gc.freeze()
        if background is not None:
            tasks.append(asyncio.create_task(background(db.pool, background_stop)))

    async def close() -> None:
        background_stop.set()
        await asyncio.gather(*tasks)
        await db.close()

    async def run(stop: asyncio.Event) -> None:
        await serve(
            address=f"{settings.listen_host}:{port(settings)}",
            services=[service, person_trail_service(db)] if person_trail else [service],
            start=start,
            close=close,
            stop=stop,
            grace_seconds=settings.shutdown_grace_seconds,
            page_tokens=page_tokens,
            quiet_methods=quiet_methods,
            security=ServerSecurity.from_settings(settings, name),
            admission=settings.admission_limits,
            streams_per_connection=settings.grpc_streams_per_connection,
        )

    lifecycle.run(run)
