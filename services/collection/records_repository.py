"""SQL for payment records (R25) and linked minors (R26)."""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.collection.domain.model import Channel, FeeType, LinkedMinor, PaymentOutcome, PaymentRecord
from services.collection.domain.records import FeePeriod, RecordSelection
from services.common.db import Connection
from services.common.money import Fen

Record = asyncpg.Record


_RECORDS = """SELECT p.payment_id, r.receipt_number, p.order_id, p.paid_at, p.channel, i.resident_id_number,
       pe.name, i.insurance_year, i.fee_type, pi.amount_fen, p.reversed_at IS NOT NULL AS reversed,
       i.payable_item_id
FROM payments p JOIN payment_items pi USING (payment_id)
JOIN payable_items i USING (payable_item_id)
JOIN insured_persons pe ON pe.resident_id_number = i.resident_id_number
LEFT JOIN receipts r ON r.payment_id = p.payment_id
WHERE p.outcome = $9 AND {person}
  AND {period}
  AND ($4::text IS NULL OR i.resident_id_number > $4
       OR (i.resident_id_number = $4 AND (p.paid_at, p.payment_id::text, i.payable_item_id::text)
           < ($5::timestamptz, $6::text, $7::text)))
ORDER BY i.resident_id_number, p.paid_at DESC, p.payment_id::text DESC, i.payable_item_id::text DESC
LIMIT $8"""
_OF_INSURED = "i.resident_id_number = $1"
_PAID_FOR_OTHERS = "p.payer_id_number = $1 AND i.resident_id_number <> $1"
_BY_PAYMENT_DATE = "(p.paid_at AT TIME ZONE 'Asia/Shanghai')::date BETWEEN $2 AND $3"
_BY_FEE_PERIOD = "i.insurance_year BETWEEN $2 AND $3"  # 费款所属期 (R47)
# One statement per filter rather than `$n IS NULL OR ...`: asyncpg's prepared statements soon run on a
# generic plan, which cannot use an index behind such an OR and scans every payment.
_QUERIES = {
    (of_insured, by_fee): _RECORDS.format(
        person=_OF_INSURED if of_insured else _PAID_FOR_OTHERS, period=_BY_FEE_PERIOD if by_fee else _BY_PAYMENT_DATE
    )
    for of_insured in (True, False)
    for by_fee in (True, False)
}


class RecordsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def payment_records(
        self,
        *,
        payer: str | None,
        insured: str | None,
        selection: RecordSelection,
        after: tuple[str, str, str, str] | None,
        limit: int,
    ) -> list[PaymentRecord]:
        """Paid items of applied payments, by insured person, newest first: those of `insured` (whoever
        paid), or those `payer` paid for others; of the benefit years of a fee period, or paid on the
        CST dates of a period."""
        if insured is not None:
            person = insured
        else:
            assert payer is not None
            person = payer
        by_fee = isinstance(selection, FeePeriod)
        bounds: tuple[int, int] | tuple[dt.date, dt.date] = (
            (selection.start_year, selection.end_year)
            if isinstance(selection, FeePeriod)
            else (selection.start, selection.end)
        )
        rows = await self._conn.fetch(
            _QUERIES[(insured is not None, by_fee)],
            person,
            bounds[0],
            bounds[1],
            after[0] if after else None,
            dt.datetime.fromisoformat(after[1]) if after else None,
            after[2] if after else None,
            after[3] if after else None,
            limit,
            PaymentOutcome.APPLIED.value,
        )
        return [
            PaymentRecord(
                payment_id=str(r["payment_id"]),
                payable_item_id=str(r["payable_item_id"]),
                receipt_number=r["receipt_number"],
                order_id=str(r["order_id"]),
                paid_at=r["paid_at"],
                channel=Channel(r["channel"]),
                insured_id_number=r["resident_id_number"],
                insured_name=r["name"],
                insurance_year=r["insurance_year"],
                fee_type=FeeType(r["fee_type"]),
                amount_fen=Fen(r["amount_fen"]),
                reversed=r["reversed"],
            )
            for r in rows
        ]

    async def lock_payer(self, payer: str, now: dt.datetime) -> None:
        """Serialises a payer's minor links, so the limit of four holds under concurrency."""
        await self._conn.execute(
            "INSERT INTO payers (payer_id_number, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", payer, now
        )
        await self._conn.execute("SELECT 1 FROM payers WHERE payer_id_number = $1 FOR UPDATE", payer)

    async def linked_minors(self, payer: str) -> list[LinkedMinor]:
        rows = await self._conn.fetch(
            """SELECT minor_id_number, minor_name, linked_at FROM minor_links WHERE payer_id_number = $1
               ORDER BY linked_at, minor_id_number""",
            payer,
        )
        return [LinkedMinor(r["minor_id_number"], r["minor_name"], r["linked_at"]) for r in rows]

    async def link_minor(self, payer: str, minor: LinkedMinor) -> None:
        await self._conn.execute(
            """INSERT INTO minor_links (payer_id_number, minor_id_number, minor_name, linked_at)
               VALUES ($1, $2, $3, $4)""",
            payer,
            minor.minor_id_number,
            minor.minor_name,
            minor.linked_at,
        )

    async def unlink_minor(self, payer: str, minor_id_number: str) -> bool:
        removed = await self._conn.fetchval(
            "DELETE FROM minor_links WHERE payer_id_number = $1 AND minor_id_number = $2 RETURNING true",
            payer,
            minor_id_number,
        )
        return bool(removed)
