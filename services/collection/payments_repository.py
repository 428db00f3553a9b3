"""SQL for payments, receipts, channel notifications and family accounts (R20-R24)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from services.collection.domain.model import (
    Channel,
    FamilyAccount,
    PaymentOutcome,
    PaymentResult,
    Receipt,
    RefundReason,
)
from services.collection.domain.payments import ChannelPayment, RecordedPayment, receipt_number
from services.collection.orders_repository import line_from_row
from services.common.db import Connection
from services.common.money import Fen

Record = asyncpg.Record


class PaymentsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def by_transaction(
        self, channel: Channel, transaction_id: str
    ) -> tuple[RecordedPayment, PaymentResult] | None:
        """The payment already recorded for this channel transaction, and what it answered."""
        row = await self._conn.fetchrow(
            """SELECT p.payment_id, p.order_id, p.amount_fen, p.outcome,
                      (SELECT r.receipt_number FROM receipts r WHERE r.payment_id = p.payment_id) AS receipt_number,
                      (SELECT f.refund_id FROM refunds f WHERE f.payment_id = p.payment_id
                       ORDER BY f.created_at LIMIT 1) AS refund_id
               FROM payments p WHERE p.channel = $1 AND p.channel_transaction_id = $2""",
            channel.value,
            transaction_id,
        )
        if row is None:
            return None
        recorded = RecordedPayment(str(row["order_id"]), Fen(row["amount_fen"]))
        result = PaymentResult(
            outcome=PaymentOutcome(row["outcome"]),
            payment_id=str(row["payment_id"]),
            order_id=str(row["order_id"]),
            receipt_number=row["receipt_number"],
            refund_id=str(row["refund_id"]) if row["refund_id"] else None,
        )
        return recorded, result

    async def insert(
        self, payment_id: str, payment: ChannelPayment, payer: str, outcome: PaymentOutcome, now: dt.datetime
    ) -> bool:
        """Records the payment; False when this channel transaction was recorded meanwhile."""
        inserted = await self._conn.fetchval(
            """INSERT INTO payments (payment_id, order_id, payer_id_number, channel, channel_transaction_id, amount_fen,
                   paid_at, outcome, payload_sha256, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (channel, channel_transaction_id) DO NOTHING RETURNING true""",
            uuid.UUID(payment_id),
            uuid.UUID(payment.order_id),
            payer,
            payment.channel.value,
            payment.transaction_id,
            payment.amount_fen,
            payment.paid_at,
            outcome.value,
            payment.payload_sha256,
            now,
        )
        return bool(inserted)

    async def apply_to_items(self, payment_id: str, item_ids: Sequence[str], now: dt.datetime) -> None:
        """Marks the items paid by this payment and records which ones it paid, for how much."""
        await self._conn.execute(
            """WITH paid AS (
                   UPDATE payable_items SET status = 'PAID', paid_by_payment_id = $1, updated_at = $3
                   WHERE payable_item_id = ANY($2::uuid[]) RETURNING payable_item_id, amount_fen)
               INSERT INTO payment_items (payment_id, payable_item_id, amount_fen)
               SELECT $1, payable_item_id, amount_fen FROM paid""",
            uuid.UUID(payment_id),
            [uuid.UUID(i) for i in item_ids],
            now,
        )

    async def issue_receipt(self, payment_id: str, paid_on: dt.date, now: dt.datetime) -> str:
        sequence = await self._conn.fetchval("SELECT nextval('receipt_number_seq')")
        number = receipt_number(paid_on, int(sequence))
        await self._conn.execute(
            "INSERT INTO receipts (receipt_number, payment_id, issued_at) VALUES ($1, $2, $3)",
            number,
            uuid.UUID(payment_id),
            now,
        )
        return number

    async def raise_refund(
        self,
        refund_id: str,
        payment_id: str,
        channel: Channel,
        amount: Fen,
        reason: RefundReason,
        now: dt.datetime,
        *,
        requested_by: str | None = None,
        note: str | None = None,
    ) -> bool:
        """False when the payment already has a refund under way or done."""
        inserted = await self._conn.fetchval(
            """INSERT INTO refunds (refund_id, payment_id, channel, amount_fen, reason, status, next_attempt_at,
                   requested_by, note, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7, $8, $6, $6)
               ON CONFLICT (payment_id) WHERE status <> 'FAILED' DO NOTHING RETURNING true""",
            uuid.UUID(refund_id),
            uuid.UUID(payment_id),
            channel.value,
            amount,
            reason.value,
            now,
            requested_by,
            note,
        )
        return bool(inserted)

    async def record_notification(
        self,
        channel: str,
        payload_sha256: bytes,
        payload_size: int,
        payload_sample: str,
        outcome: str,
        received_at: dt.datetime,
        *,
        payment: ChannelPayment | None = None,
        payment_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Keeps what a channel sent and what became of it, whatever that was."""
        await self._conn.execute(
            """INSERT INTO channel_notifications (channel, channel_transaction_id, order_id, amount_fen, paid_at,
                   payload_sha256, payload_size, payload_sample, outcome, payment_id, detail, received_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
            channel,
            payment.transaction_id if payment else None,
            payment.order_id if payment else None,
            payment.amount_fen if payment else None,
            payment.paid_at if payment else None,
            payload_sha256,
            payload_size,
            payload_sample,
            outcome,
            uuid.UUID(payment_id) if payment_id else None,
            detail,
            received_at,
        )

    async def receipt(self, payer: str, *, number: str | None = None, order_id: str | None = None) -> Receipt | None:
        """A payer's receipt, by its number or by the order it paid."""
        try:
            order_key = uuid.UUID(order_id) if order_id else None
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            """SELECT r.receipt_number, r.issued_at, r.reversed_at, p.payment_id, p.order_id, p.payer_id_number,
                      p.channel, p.paid_at, p.amount_fen
               FROM receipts r JOIN payments p USING (payment_id)
               WHERE p.payer_id_number = $1 AND (r.receipt_number = $2 OR p.order_id = $3)""",
            payer,
            number,
            order_key,
        )
        if row is None:
            return None
        lines = await self._conn.fetch(
            """SELECT pi.payable_item_id, i.resident_id_number, pe.name, i.insurance_year, i.fee_type, pi.amount_fen,
                      i.coverage_start, i.coverage_end
               FROM payment_items pi JOIN payable_items i USING (payable_item_id)
               JOIN insured_persons pe ON pe.resident_id_number = i.resident_id_number
               WHERE pi.payment_id = $1 ORDER BY i.resident_id_number, i.insurance_year, i.fee_type""",
            row["payment_id"],
        )
        return Receipt(
            receipt_number=row["receipt_number"],
            payment_id=str(row["payment_id"]),
            order_id=str(row["order_id"]),
            payer_id_number=row["payer_id_number"],
            channel=Channel(row["channel"]),
            paid_at=row["paid_at"],
            total_fen=Fen(row["amount_fen"]),
            lines=tuple(line_from_row(line) for line in lines),
            issued_at=row["issued_at"],
            reversed_at=row["reversed_at"],
        )

    async def lock_family_account(self, holder: str) -> FamilyAccount | None:
        """The account, locked until the transaction ends: a debit decided on its balance stays right."""
        row = await self._conn.fetchrow(
            """SELECT holder_id_number, balance_fen, updated_at FROM family_accounts WHERE holder_id_number = $1
               FOR UPDATE""",
            holder,
        )
        return FamilyAccount(row["holder_id_number"], Fen(row["balance_fen"]), row["updated_at"]) if row else None

    async def credit_family_account(self, payment_id: str, refund_id: str, amount: Fen, now: dt.datetime) -> bool:
        """Returns a refunded amount to the account the payment was debited from, once per refund (R20a);
        False when that refund was credited already."""
        credited = await self._conn.fetchval(
            """WITH debit AS (
                   SELECT holder_id_number FROM family_account_entries WHERE kind = 'DEBIT' AND payment_id = $1),
               credited AS (
                   UPDATE family_accounts a SET balance_fen = a.balance_fen + $3, updated_at = $4
                   FROM debit WHERE a.holder_id_number = debit.holder_id_number
                     AND NOT EXISTS (SELECT 1 FROM family_account_entries WHERE kind = 'CREDIT' AND refund_id = $2)
                   RETURNING a.holder_id_number, a.balance_fen)
               INSERT INTO family_account_entries (holder_id_number, kind, amount_fen, balance_after_fen,
                   payment_id, refund_id, recorded_at)
               SELECT holder_id_number, 'CREDIT', $3, balance_fen, $1, $2, $4 FROM credited RETURNING true""",
            uuid.UUID(payment_id),
            uuid.UUID(refund_id),
            amount,
            now,
        )
        return bool(credited)

    async def family_account(self, holder: str) -> FamilyAccount | None:
        row = await self._conn.fetchrow(
            "SELECT holder_id_number, balance_fen, updated_at FROM family_accounts WHERE holder_id_number = $1", holder
        )
        return FamilyAccount(row["holder_id_number"], Fen(row["balance_fen"]), row["updated_at"]) if row else None

    async def set_family_account(self, holder: str, balance: Fen, now: dt.datetime) -> FamilyAccount:
        """Sets the balance the insurance bureau's account system reports; the ledger records it as SET."""
        await self._conn.execute(
            """WITH account AS (
                   INSERT INTO family_accounts (holder_id_number, balance_fen, updated_at) VALUES ($1, $2, $3)
                   ON CONFLICT (holder_id_number) DO UPDATE SET balance_fen = EXCLUDED.balance_fen,
                       updated_at = EXCLUDED.updated_at
                   RETURNING holder_id_number)
               INSERT INTO family_account_entries (holder_id_number, kind, amount_fen, balance_after_fen, recorded_at)
               SELECT holder_id_number, 'SET', $2, $2, $3 FROM account""",
            holder,
            balance,
            now,
        )
        return FamilyAccount(holder, balance, now)
