"""Connecting to RabbitMQ: waits for the broker at start-up, then relies on aio-pika's reconnection."""

from __future__ import annotations

import asyncio

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.get_logger(__name__)


CLOSE_TIMEOUT_SECONDS = 5.0


async def close_quietly(connection: AbstractRobustConnection) -> None:
    """Closes within a deadline: a connection that is reconnecting to a broker that is down would
    otherwise hold up the process's shutdown for as long as the broker stays away."""
    try:
        await asyncio.wait_for(connection.close(), timeout=CLOSE_TIMEOUT_SECONDS)
    except Exception as exc:  # nothing left to save: the process is stopping
        log.warning("broker_close_failed", error=f"{type(exc).__name__}: {exc}")


async def connect_broker(url: str, *, attempts: int = 0) -> AbstractRobustConnection:
    """A robust connection, retried with back-off while the broker is down (attempts=0: forever)."""
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            connection = await aio_pika.connect_robust(url, timeout=10)
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            if attempts and attempt >= attempts:
                raise
            log.warning("broker_unavailable", error=f"{type(exc).__name__}: {exc}", retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        log.info("broker_connected")
        return connection
