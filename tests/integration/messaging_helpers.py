"""Helpers for tests that talk to RabbitMQ directly."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
from collections.abc import Callable, Coroutine
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from google.protobuf.message import Message
from medins.events.v1 import events_pb2

from services.common.clock import CST
from services.common.messaging.envelope import EventType, new_envelope
from services.common.messaging.topology import EVENTS_EXCHANGE
from tests.support import eventually

NOW = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)


def envelope(event_type: EventType, payload: Message) -> events_pb2.EventEnvelope:
    return new_envelope(event_type, payload, producer="test", correlation_id="test-correlation", occurred_at=NOW)


async def publish(channel: AbstractChannel, body: bytes, routing_key: str, message_id: str = "") -> None:
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    await exchange.publish(aio_pika.Message(body, message_id=message_id or None), routing_key=routing_key)


async def drain(channel: AbstractChannel, queue_name: str) -> list[AbstractIncomingMessage]:
    """Takes every message currently in the queue (acknowledged)."""
    queue = await channel.get_queue(queue_name)
    taken = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        taken.append(message)
    return taken


async def wait_for_messages(
    channel: AbstractChannel, queue_name: str, count: int, timeout: float = 15
) -> list[AbstractIncomingMessage]:
    """Collects messages from the queue until `count` arrived, within a deadline."""
    taken: list[AbstractIncomingMessage] = []

    async def enough() -> list[AbstractIncomingMessage]:
        taken.extend(await drain(channel, queue_name))
        assert len(taken) >= count, f"{len(taken)} of {count} messages arrived"
        return taken

    return await eventually(enough, timeout=timeout)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


async def broker_down_then_up(while_down: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Stops the RabbitMQ application, runs `while_down`, and starts it again, whatever happens."""
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        await while_down()
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")
