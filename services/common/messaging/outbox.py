"""The sending side of R31: events are rows written in the state change's own transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import NamedTuple

from google.protobuf.message import Message

from services.common.db import Connection
from services.common.logs import current_correlation_id
from services.common.messaging.envelope import EventType, new_envelope


class OutboxRow(NamedTuple):
    """The columns of one outbox row, in INSERT order."""

    event_id: uuid.UUID
    event_type: str
    envelope: bytes
    correlation_id: str


class Outbox:
    """Writes events into the `outbox` table of the unit of work's transaction."""

    def __init__(self, conn: Connection, producer: str) -> None:
        self._conn = conn
        self._producer = producer

    def row(self, event_type: EventType, payload: Message, *, occurred_at: dt.datetime) -> OutboxRow:
        """The outbox row of one event, for a caller that writes it inside a larger statement."""
        envelope = new_envelope(
            event_type,
            payload,
            producer=self._producer,
            correlation_id=current_correlation_id(),
            occurred_at=occurred_at,
        )
        return OutboxRow(
            uuid.UUID(envelope.event_id), envelope.event_type, envelope.SerializeToString(), envelope.correlation_id
        )

    async def add(self, event_type: EventType, payload: Message, *, occurred_at: dt.datetime) -> str:
        """Adds one event; returns its event id. It is published only if the transaction commits."""
        row = self.row(event_type, payload, occurred_at=occurred_at)
        await self._conn.execute(
            """INSERT INTO outbox (event_id, event_type, envelope, correlation_id)
               VALUES ($1, $2, $3, $4)""",
            *row,
        )
        return str(row.event_id)

    async def add_many(self, event_type: EventType, payloads: Sequence[Message], *, occurred_at: dt.datetime) -> None:
        """Adds many events of one type in one round trip (batch renewals, batch registration)."""
        correlation_id = current_correlation_id()
        envelopes = [
            new_envelope(event_type, p, producer=self._producer, correlation_id=correlation_id, occurred_at=occurred_at)
            for p in payloads
        ]
        await self._conn.executemany(
            """INSERT INTO outbox (event_id, event_type, envelope, correlation_id)
               VALUES ($1, $2, $3, $4)""",
            [(e.event_id, e.event_type, e.SerializeToString(), e.correlation_id) for e in envelopes],
        )
