"""SQL of the payment query worker (R43): the orders to ask about, what each channel answered, and
where each order stands at each channel. Rules live in domain/payment_queries.py; this only selects
and writes with parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from services.collection.domain.model import Channel, OrderStatus
from services.collection.domain.payment_queries import EXPIRED, FAILED_CALLBACKS, PENDING, Candidate, Source, Window
from services.collection.gateways.channel_apis.ports import TradeAnswer
from services.common.db import Connection

_CANDIDATES = """
SELECT o.order_id, o.status, o.created_at, o.expires_at FROM orders o
WHERE o.payment_id IS NULL
  AND ((o.status = $1 AND o.expires_at <= $2)
    OR (o.status = ANY($3::text[]) AND o.expires_at >= $4)
    OR (o.status = ANY($3::text[]) AND o.order_id::text IN (
          SELECT n.order_id FROM notification_records n
          WHERE n.outcome = ANY($5::text[]) AND n.received_at >= $4 AND n.order_id IS NOT NULL)))
  AND (SELECT count(*) FROM order_channel_checks c
       WHERE c.order_id = o.order_id AND c.channel = ANY($6::text[]) AND (c.settled OR c.next_ask_at > $7))
      < cardinality($6::text[])
ORDER BY o.expires_at LIMIT $8"""


@dataclass(frozen=True)
class Check:
    asks: int
    next_ask_at: dt.datetime
    settled: bool


class PaymentQueryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def candidates(self, w: Window, channels: Sequence[Channel], limit: int) -> list[Candidate]:
        """Orders some channel of `channels` is due to be asked about, soonest expiry first."""
        rows = await self._conn.fetch(
            _CANDIDATES,
            PENDING.value,
            w.near_expiry,
            [PENDING.value, EXPIRED.value],
            w.since,
            [o.value for o in FAILED_CALLBACKS],
            [c.value for c in channels],
            w.now,
            limit,
        )
        return [Candidate(str(r["order_id"]), OrderStatus(r["status"]), r["created_at"], r["expires_at"]) for r in rows]

    async def checks(self, order_id: str) -> dict[Channel, Check]:
        rows = await self._conn.fetch(
            "SELECT channel, asks, next_ask_at, settled FROM order_channel_checks WHERE order_id = $1",
            uuid.UUID(order_id),
        )
        return {Channel(r["channel"]): Check(r["asks"], r["next_ask_at"], r["settled"]) for r in rows}

    async def note_check(
        self, order_id: str, channel: Channel, next_ask_at: dt.datetime, settled: bool, now: dt.datetime
    ) -> None:
        await self._conn.execute(
            """INSERT INTO order_channel_checks (order_id, channel, asks, next_ask_at, settled, updated_at)
               VALUES ($1, $2, 1, $3, $4, $5)
               ON CONFLICT (order_id, channel) DO UPDATE SET asks = order_channel_checks.asks + 1,
                   next_ask_at = $3, settled = order_channel_checks.settled OR $4, updated_at = $5""",
            uuid.UUID(order_id),
            channel.value,
            next_ask_at,
            settled,
            now,
        )

    async def record_answer(
        self,
        order_id: str,
        channel: Channel,
        source: Source,
        answer: TradeAnswer,
        now: dt.datetime,
        *,
        outcome: str | None = None,
        payment_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        payment = answer.payment
        await self._conn.execute(
            """INSERT INTO channel_order_answers (order_id, channel, source, state, detail, channel_transaction_id,
                   amount_fen, paid_at, payload_sha256, outcome, payment_id, asked_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            uuid.UUID(order_id),
            channel.value,
            source.value,
            answer.state.value,
            (detail or answer.detail)[:500] or None,
            payment.transaction_id if payment else None,
            payment.amount_fen if payment else None,
            payment.paid_at if payment else None,
            payment.payload_sha256 if payment else None,
            outcome,
            uuid.UUID(payment_id) if payment_id else None,
            now,
        )
