"""SQL for refunds (退费) and what a succeeded refund reverses."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping, Sequence

import asyncpg

from services.collection.domain import refunds
from services.collection.domain.model import (
    Channel,
    EnrollmentState,
    FeeType,
    ItemStatus,
    PaymentOutcome,
    Refund,
    RefundReason,
    RefundStatus,
)
from services.collection.domain.refunds import NewRefund, PaidItem, PaymentToRefund
from services.collection.sql_literals import state_literal
from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange

Record = asyncpg.Record
_COLUMNS = """refund_id, payment_id, channel, amount_fen, reason, status, attempts, created_at, updated_at,
    channel_refund_id, failure_reason"""

# A new refund's row: these columns take new_refund_values(refund), in this order, wherever one is written.
NEW_REFUND_COLUMNS = """refund_id, payment_id, channel, amount_fen, reason, status, next_attempt_at, requested_by,
    note, created_at, updated_at"""
# ON CONFLICT must repeat the predicate of refunds_one_live_per_payment to find it (see sql_literals).
_RAISE_REFUND = f"""INSERT INTO refunds ({NEW_REFUND_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $7, $7)
ON CONFLICT (payment_id) WHERE status <> {state_literal(refunds.NOT_LIVE)} DO NOTHING RETURNING true"""


def new_refund_values(refund: NewRefund) -> tuple[object, ...]:
    """$1-$9 of a new refund's row: id, payment, channel, amount, reason, status, raised at (also its first
    attempt, creation and update time), requested by, note."""
    return (
        uuid.UUID(refund.refund_id),
        uuid.UUID(refund.payment_id),
        refund.channel.value,
        refund.amount_fen,
        refund.reason.value,
        refund.status.value,
        refund.raised_at,
        refund.requested_by,
        refund.note,
    )


def _list_arguments(status: RefundStatus | None, after: tuple[str, str] | None, limit: int) -> tuple[object, ...]:
    """$1-$4 of the refund listings: status, the cursor's time and id, the page size."""
    return (
        status.value if status else None,
        dt.datetime.fromisoformat(after[0]) if after else None,
        uuid.UUID(after[1]) if after else None,
        limit,
    )


class RefundsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def raise_refund(self, refund: NewRefund) -> bool:
        """False when the payment already has a refund under way or done."""
        return bool(await self._conn.fetchval(_RAISE_REFUND, *new_refund_values(refund)))

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        try:
            key = uuid.UUID(refund_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM refunds WHERE refund_id = $1{lock}", key)
        return refund_from_row(row) if row else None

    async def list_refunds(
        self, status: RefundStatus | None, after: tuple[str, str] | None, limit: int, *, payer: str | None = None
    ) -> list[Refund]:
        """Oldest first. With `payer`, only refunds of that payer's payments: its own statement, reaching
        them through payments_payer and refunds_payment (no `$n IS NULL OR` before an index, see
        docs/BENCHMARKS.md)."""
        if payer is not None:
            rows = await self._conn.fetch(
                f"""SELECT {_COLUMNS} FROM refunds WHERE payment_id IN (
                        SELECT payment_id FROM payments WHERE payer_id_number = $5)
                    AND ($1::text IS NULL OR status = $1)
                    AND ($2::timestamptz IS NULL OR (created_at, refund_id) > ($2::timestamptz, $3::uuid))
                    ORDER BY created_at, refund_id LIMIT $4""",
                *_list_arguments(status, after, limit),
                payer,
            )
            return [refund_from_row(r) for r in rows]
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM refunds WHERE ($1::text IS NULL OR status = $1)
                AND ($2::timestamptz IS NULL OR (created_at, refund_id) > ($2::timestamptz, $3::uuid))
                ORDER BY created_at, refund_id LIMIT $4""",
            *_list_arguments(status, after, limit),
        )
        return [refund_from_row(r) for r in rows]

    async def claim_due(
        self, statuses: Collection[RefundStatus], now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[Refund]:
        """Marks due refunds in these statuses SUBMITTING, counting the attempt, with a lease until
        `lease_until`; those another worker holds are skipped. Commit before calling the gateway."""
        rows = await self._conn.fetch(
            f"""UPDATE refunds SET status = $4, attempts = attempts + 1, next_attempt_at = $3, updated_at = $2
                WHERE refund_id IN (
                    SELECT refund_id FROM refunds WHERE status = ANY($1::text[]) AND next_attempt_at <= $2
                    ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED)
                RETURNING {_COLUMNS}""",
            sorted(s.value for s in statuses),
            now,
            lease_until,
            RefundStatus.SUBMITTING.value,
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

    async def payment_of(self, payment_id: str) -> PaymentToRefund | None:
        """The payment, locked (a refund decided on it stays right); None for an unknown or malformed id."""
        try:
            key = uuid.UUID(payment_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            """SELECT payment_id, order_id, outcome, amount_fen, channel, reversed_at FROM payments
               WHERE payment_id = $1 FOR UPDATE""",
            key,
        )
        if row is None:
            return None
        return PaymentToRefund(
            str(row["payment_id"]),
            str(row["order_id"]) if row["order_id"] else None,
            PaymentOutcome(row["outcome"]),
            Fen(row["amount_fen"]),
            Channel(row["channel"]),
            row["reversed_at"],
        )

    async def paid_items(self, payment_id: str) -> list[PaidItem]:
        rows = await self._conn.fetch(
            """SELECT i.payable_item_id, i.enrollment_id, i.resident_id_number, i.insurance_year, i.fee_type,
                      pi.amount_fen, i.coverage_start, i.coverage_end
               FROM payment_items pi JOIN payable_items i USING (payable_item_id)
               WHERE pi.payment_id = $1 ORDER BY i.payable_item_id""",
            uuid.UUID(payment_id),
        )
        return [
            PaidItem(
                str(r["payable_item_id"]),
                str(r["enrollment_id"]),
                r["resident_id_number"],
                r["insurance_year"],
                FeeType(r["fee_type"]),
                Fen(r["amount_fen"]),
                DateRange(r["coverage_start"], r["coverage_end"]),
            )
            for r in rows
        ]

    async def reverse_payment(
        self, payment_id: str, item_statuses: Mapping[str, ItemStatus], note: str | None, now: dt.datetime
    ) -> None:
        """The money went back: the payment and its receipt are reversed (冲红); each item it paid takes
        the status the domain decided (owed again, or cancelled)."""
        key = uuid.UUID(payment_id)
        await self._conn.execute("UPDATE payments SET reversed_at = $2 WHERE payment_id = $1", key, now)
        await self._conn.execute("UPDATE receipts SET reversed_at = $2 WHERE payment_id = $1", key, now)
        if item_statuses:
            await self._conn.execute(
                """UPDATE payable_items i SET status = s.status, paid_by_payment_id = NULL, updated_at = $4,
                       note = COALESCE(i.note, $5)
                   FROM unnest($2::uuid[], $3::text[]) AS s(id, status)
                   WHERE i.payable_item_id = s.id AND i.paid_by_payment_id = $1""",
                key,
                [uuid.UUID(i) for i in item_statuses],
                [st.value for st in item_statuses.values()],
                now,
                note,
            )

    async def enrollment_states(self, enrollment_ids: Sequence[str]) -> dict[str, EnrollmentState]:
        """The tax side's view of these enrollments' states."""
        rows = await self._conn.fetch(
            "SELECT enrollment_id, state FROM enrollment_refs WHERE enrollment_id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in enrollment_ids],
        )
        return {str(r["enrollment_id"]): EnrollmentState(r["state"]) for r in rows}

    async def note_items(self, item_ids: Sequence[str], note: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE payable_items SET note = $2, updated_at = $3 WHERE payable_item_id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in item_ids],
            note,
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
