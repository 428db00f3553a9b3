"""SQL for refunds (退费) and what a succeeded refund reverses."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from services.collection.domain.model import Channel, PaymentOutcome, Refund, RefundReason, RefundStatus
from services.common.db import Connection
from services.common.money import Fen

Record = asyncpg.Record
_COLUMNS = """refund_id, payment_id, channel, amount_fen, reason, status, attempts, created_at, updated_at,
    channel_refund_id, failure_reason"""


class RefundsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        try:
            key = uuid.UUID(refund_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM refunds WHERE refund_id = $1{lock}", key)
        return refund_from_row(row) if row else None

    async def list_refunds(
        self, status: RefundStatus | None, after: tuple[str, str] | None, limit: int
    ) -> list[Refund]:
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM refunds WHERE ($1::text IS NULL OR status = $1)
                AND ($2::timestamptz IS NULL OR (created_at, refund_id) > ($2::timestamptz, $3::uuid))
                ORDER BY created_at, refund_id LIMIT $4""",
            status.value if status else None,
            dt.datetime.fromisoformat(after[0]) if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
        return [refund_from_row(r) for r in rows]

    async def lock_due(self, now: dt.datetime, limit: int) -> list[Refund]:
        """Refunds waiting to be (re)submitted, locked; those another worker holds are skipped."""
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM refunds WHERE status IN ('PENDING', 'FAILED') AND next_attempt_at <= $1
                ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
        return [refund_from_row(r) for r in rows]

    async def set_state(
        self,
        refund_id: str,
        status: RefundStatus,
        now: dt.datetime,
        *,
        next_attempt_at: dt.datetime | None = None,
        channel_refund_id: str | None = None,
        failure_reason: str | None = None,
        attempted: bool = False,
    ) -> None:
        await self._conn.execute(
            """UPDATE refunds SET status = $2, updated_at = $3, next_attempt_at = COALESCE($4, next_attempt_at),
                   channel_refund_id = COALESCE($5, channel_refund_id), failure_reason = COALESCE($6, failure_reason),
                   attempts = attempts + CASE WHEN $7 THEN 1 ELSE 0 END
               WHERE refund_id = $1""",
            uuid.UUID(refund_id),
            status.value,
            now,
            next_attempt_at,
            channel_refund_id,
            failure_reason,
            attempted,
        )

    async def payment_of(self, payment_id: str) -> Record | None:
        return await self._conn.fetchrow(
            """SELECT payment_id, order_id, outcome, amount_fen, channel, reversed_at FROM payments
               WHERE payment_id = $1 FOR UPDATE""",
            uuid.UUID(payment_id),
        )

    async def paid_items(self, payment_id: str) -> list[Record]:
        return list(
            await self._conn.fetch(
                """SELECT i.payable_item_id, i.enrollment_id, i.resident_id_number, i.insurance_year, i.fee_type,
                          pi.amount_fen, i.coverage_start, i.coverage_end
                   FROM payment_items pi JOIN payable_items i USING (payable_item_id)
                   WHERE pi.payment_id = $1 ORDER BY i.payable_item_id""",
                uuid.UUID(payment_id),
            )
        )

    async def reverse_payment(self, payment_id: str, outcome: PaymentOutcome, now: dt.datetime) -> None:
        """The money went back: the payment and its receipt are reversed (冲红); the items it paid are
        owed again."""
        key = uuid.UUID(payment_id)
        await self._conn.execute("UPDATE payments SET reversed_at = $2 WHERE payment_id = $1", key, now)
        await self._conn.execute("UPDATE receipts SET reversed_at = $2 WHERE payment_id = $1", key, now)
        if outcome is PaymentOutcome.APPLIED:
            await self._conn.execute(
                """UPDATE payable_items SET status = 'UNPAID', paid_by_payment_id = NULL, updated_at = $2
                   WHERE paid_by_payment_id = $1 AND status = 'PAID'""",
                key,
                now,
            )


def refund_from_row(r: Record) -> Refund:
    return Refund(
        refund_id=str(r["refund_id"]),
        payment_id=str(r["payment_id"]),
        channel=Channel(r["channel"]),
        amount_fen=Fen(r["amount_fen"]),
        reason=RefundReason(r["reason"]),
        status=RefundStatus(r["status"]),
        attempts=r["attempts"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        channel_refund_id=r["channel_refund_id"],
        failure_reason=r["failure_reason"],
    )
