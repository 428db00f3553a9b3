"""Looking at and replaying parked messages (R32: visible and replayable, never silently dropped)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel

from services.common.messaging.consumer import ATTEMPT_HEADER, DEAD_LETTER_REASON_HEADER, ERROR_HEADER
from services.common.messaging.topology import ConsumerQueue


@dataclass(frozen=True)
class ParkedMessage:
    message_id: str
    event_type: str
    reason: str


async def peek(channel: AbstractChannel, consumer: ConsumerQueue, limit: int = 100) -> list[ParkedMessage]:
    """Lists up to `limit` parked messages without removing them (they are returned to the queue)."""
    queue = await channel.get_queue(consumer.dlq)
    seen = []
    taken = []
    for _ in range(limit):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
        headers = message.headers or {}
        seen.append(
            ParkedMessage(
                message_id=message.message_id or "",
                event_type=str(headers.get("x-original-routing-key") or message.type or ""),
                reason=str(headers.get(DEAD_LETTER_REASON_HEADER) or _broker_reason(headers)),
            )
        )
    for message in taken:
        await message.nack(requeue=True)
    return seen


def _broker_reason(headers: Mapping[str, object]) -> str:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return f"broker dead-lettered it ({deaths[0].get('reason')}), e.g. after repeated consumer crashes"
    return "unknown"


async def replay(channel: AbstractChannel, consumer: ConsumerQueue, limit: int = 1000) -> int:
    """Moves up to `limit` parked messages back to the consumer's queue with a fresh attempt count.
    Each is removed from the DLQ only after the broker confirmed its copy."""
    queue = await channel.get_queue(consumer.dlq)
    moved = 0
    while moved < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        headers = {
            k: v
            for k, v in (message.headers or {}).items()
            if k not in (ATTEMPT_HEADER, ERROR_HEADER, DEAD_LETTER_REASON_HEADER, "x-death")
        }
        headers["x-replayed"] = True
        await channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                message_id=message.message_id,
                type=message.type,
                content_type=message.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=consumer.name,
            timeout=10,
        )
        await message.ack()
        moved += 1
    return moved
