"""Connecting to RabbitMQ: waits for the broker at start-up, then relies on aio-pika's reconnection."""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from services.common.messaging.topology import declare_topology

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


async def open_declared_channel(
    url: str, retry_delays_ms: tuple[int, ...], stop: asyncio.Event
) -> tuple[AbstractRobustConnection, AbstractChannel] | None:
    """A confirming channel with the topology declared, retried until it works or `stop` is set (then
    None). The broker may go away between connecting and declaring (a restart): that is retried too,
    not a reason for the process to exit."""
    delay = 0.5
    while not stop.is_set():
        connection = await connect_broker(url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            await declare_topology(channel, retry_delays_ms)
            return connection, channel
        except Exception as exc:  # the broker closed on us mid-setup: start again
            log.warning("broker_setup_failed", error=f"{type(exc).__name__}: {exc}", retry_in_seconds=delay)
            await close_quietly(connection)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 10.0)
    return None
