"""SQL for payments, receipts, channel notifications and family accounts (R20-R24)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from services.collection.domain.family import LedgerEntryKind
from services.collection.domain.model import (
    Channel,
    FamilyAccount,
    Receipt,
)
from services.collection.orders_repository import line_from_row
from services.collection.sql_literals import state_literal
from services.common.db import Connection
from services.common.money import Fen

Record = asyncpg.Record

# The debit and credit lookups name the predicates of their partial unique indexes (see sql_literals).
_CREDIT_FAMILY_ACCOUNT = f"""WITH debit AS (
    SELECT holder_id_number FROM family_account_entries
    WHERE kind = {state_literal(LedgerEntryKind.DEBIT)} AND payment_id = $1),
credited AS (
    UPDATE family_accounts a SET balance_fen = a.balance_fen + $3, updated_at = $4
    FROM debit WHERE a.holder_id_number = debit.holder_id_number
      AND NOT EXISTS (SELECT 1 FROM family_account_entries
                      WHERE kind = {state_literal(LedgerEntryKind.CREDIT)} AND refund_id = $2)
    RETURNING a.holder_id_number, a.balance_fen)
INSERT INTO family_account_entries (holder_id_number, kind, amount_fen, balance_after_fen, payment_id, refund_id,
    recorded_at)
SELECT holder_id_number, $5::text, $3, balance_fen, $1, $2, $4 FROM credited RETURNING true"""


class PaymentsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

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
            _CREDIT_FAMILY_ACCOUNT,
            uuid.UUID(payment_id),
            uuid.UUID(refund_id),
            amount,
            now,
            LedgerEntryKind.CREDIT.value,
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
               SELECT holder_id_number, $4::text, $2, $2, $3 FROM account""",
            holder,
            balance,
            now,
            LedgerEntryKind.SET.value,
        )
        return FamilyAccount(holder, balance, now)
