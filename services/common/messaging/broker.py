"""Connecting to RabbitMQ: waits for the broker at start-up, then relies on aio-pika's reconnection.

A cluster is given as several node URLs (Settings.broker_urls). aio-pika's robust connection takes one
URL and would reconnect to that node forever; FailoverConnection keeps everything it restores after a
reconnect (channels, declarations, QoS, consumers) and only chooses the node: each attempt goes to the
node after the one that failed or went away, round the list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from yarl import URL

from services.common.messaging.topology import declare_topology

log = structlog.get_logger(__name__)


CLOSE_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 10.0
# Pause between reconnection attempts; with several nodes each attempt tries the next one.
RECONNECT_INTERVAL_SECONDS = 1.0

# One broker URL, or the URLs of a cluster's nodes in order of preference.
BrokerUrls = str | Sequence[str]


def node_urls(urls: BrokerUrls) -> tuple[str, ...]:
    nodes = (urls,) if isinstance(urls, str) else tuple(urls)
    if not nodes:
        raise ValueError("no broker URL given")
    return nodes


def node_name(url: URL) -> str:
    """host:port of a node, for logs (never the credentials)."""
    return f"{url.host}:{url.port}"


class FailoverConnection(aio_pika.RobustConnection):
    """A robust connection over the nodes of a cluster, starting at node `first`."""

    def __init__(self, urls: Sequence[str], first: int = 0, **kwargs: Any) -> None:
        self._nodes = tuple(URL(u) for u in urls)
        self._node = first % len(self._nodes)
        self._connected_to_node = False  # a live connection to the current node, not an attempt at it
        super().__init__(self._nodes[self._node], reconnect_interval=RECONNECT_INTERVAL_SECONDS, **kwargs)

    @property
    def node(self) -> str:
        return node_name(self._nodes[self._node])

    def _move_on(self) -> str:
        self._node = (self._node + 1) % len(self._nodes)
        return self.node

    # aio-pika's RobustConnection makes every (re)connection attempt through this private method
    # (name-mangled `__connect_transport`, pinned by uv.lock); overriding it is the one place to choose
    # the node. tests/cluster/test_failover.py fails if this hook is not called or a node is skipped.
    async def _RobustConnection__connect_transport(self) -> None:
        self.url = self._nodes[self._node]
        try:
            await super()._RobustConnection__connect_transport()  # type: ignore[misc]
        except Exception as exc:  # a cancelled attempt (closing) stays on its node
            tried = self.node
            if len(self._nodes) > 1:
                log.warning(
                    "broker_node_unavailable",
                    node=tried,
                    error=f"{type(exc).__name__}: {exc}",
                    next_node=self._move_on(),
                )
            raise
        self._connected_to_node = True
        log.info("broker_connected", node=self.node)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        await super()._on_connection_close(closing)
        # Also called for a failed attempt, which moved on already.
        was_connected, self._connected_to_node = self._connected_to_node, False
        if was_connected and not self.is_closed and not self._close_called and len(self._nodes) > 1:
            # The node went away under us: try the next one first.
            lost = self.node
            log.warning("broker_connection_lost", node=lost, next_node=self._move_on())


async def close_quietly(connection: AbstractRobustConnection) -> None:
    """Closes within a deadline: a connection that is reconnecting to a broker that is down would
    otherwise hold up the process's shutdown for as long as the broker stays away."""
    try:
        await asyncio.wait_for(connection.close(), timeout=CLOSE_TIMEOUT_SECONDS)
    except Exception as exc:  # nothing left to save: the process is stopping
        log.warning("broker_close_failed", error=f"{type(exc).__name__}: {exc}")


async def connect_broker(urls: BrokerUrls, *, attempts: int = 0) -> AbstractRobustConnection:
    """A robust connection to the first live node, every node tried in turn, with back-off between
    rounds while none answers (attempts: rounds; 0: forever)."""
    nodes = node_urls(urls)
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        for first in range(len(nodes)):
            connection = FailoverConnection(nodes, first)
            try:
                await connection.connect(timeout=CONNECT_TIMEOUT_SECONDS)
            except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
                error = exc
                continue
            return connection
        if attempts and attempt >= attempts:
            raise error
        log.warning("broker_unavailable", error=f"{type(error).__name__}: {error}", retry_in_seconds=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def open_declared_channel(
    urls: BrokerUrls, retry_delays_ms: tuple[int, ...], stop: asyncio.Event
) -> tuple[AbstractRobustConnection, AbstractChannel] | None:
    """A confirming channel with the topology declared, retried until it works or `stop` is set (then
    None). The broker may go away between connecting and declaring (a restart): that is retried too,
    not a reason for the process to exit."""
    delay = 0.5
    while not stop.is_set():
        connection = await connect_broker(urls)
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
