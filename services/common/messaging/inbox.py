"""The receiving side of R32: an event id is recorded in the same transaction as the event's effect."""

from __future__ import annotations

from medins.events.v1 import events_pb2

from services.common.db import Connection


async def first_delivery(conn: Connection, consumer: str, envelope: events_pb2.EventEnvelope) -> bool:
    """Records the event for this consumer; False when it was already processed (a redelivery).

    A concurrent delivery of the same event blocks on the primary key until the first transaction
    ends, then sees the conflict: exactly one of them applies the effect.
    """
    inserted = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        envelope.event_id,
        envelope.event_type,
    )
    return bool(inserted)
