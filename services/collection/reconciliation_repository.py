"""SQL for settlement uploads and reconciliation report versions (R30)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from services.collection.domain.model import Channel, NotificationOutcome, PaymentOutcome
from services.collection.domain.reconciliation import (
    Finding,
    OurPayment,
    Outcome,
    RefusedNotification,
    ReportVersion,
    SettlementLine,
)
from services.common.db import Connection
from services.common.money import Fen


class ReconciliationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock_day(self, channel: Channel, day: dt.date) -> None:
        """Serialises imports of one channel and day until the transaction ends."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"settlement:{channel.value}:{day.isoformat()}",
        )

    async def chunk_count_of(self, channel: Channel, day: dt.date, upload_id: str, count: int, now: dt.datetime) -> int:
        """Registers the upload (first chunk) and returns its chunk count as first declared."""
        await self._conn.execute(
            """INSERT INTO settlement_uploads (channel, settlement_date, upload_id, chunk_count, created_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            channel.value,
            day,
            upload_id,
            count,
            now,
        )
        declared = await self._conn.fetchval(
            "SELECT chunk_count FROM settlement_uploads WHERE channel = $1 AND settlement_date = $2 AND upload_id = $3",
            channel.value,
            day,
            upload_id,
        )
        return int(declared)

    async def save_chunk(
        self, channel: Channel, day: dt.date, upload_id: str, index: int, lines: Sequence[SettlementLine]
    ) -> tuple[bool, int]:
        """(whether this chunk is new, how many of its lines were new). A chunk seen before adds nothing."""
        fresh = await self._conn.fetchval(
            """INSERT INTO settlement_upload_chunks (channel, settlement_date, upload_id, chunk_index, record_count)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
            channel.value,
            day,
            upload_id,
            index,
            len(lines),
        )
        if not fresh:
            return False, 0
        inserted = await self._conn.fetch(
            """INSERT INTO settlement_upload_lines (channel, settlement_date, upload_id, line_number,
                   channel_transaction_id, order_id, amount_fen, settled_at)
               SELECT $1, $2, $3, l.n, l.txn, l.ord, l.amount, l.at
               FROM unnest($4::int[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[])
                    AS l(n, txn, ord, amount, at)
               ON CONFLICT DO NOTHING RETURNING 1""",
            channel.value,
            day,
            upload_id,
            [x.line_number for x in lines],
            [x.channel_transaction_id for x in lines],
            [x.order_id for x in lines],
            [x.amount_fen for x in lines],
            [x.settled_at for x in lines],
        )
        return True, len(inserted)

    async def chunks_received(self, channel: Channel, day: dt.date, upload_id: str) -> int:
        return int(
            await self._conn.fetchval(
                """SELECT count(*) FROM settlement_upload_chunks
                   WHERE channel = $1 AND settlement_date = $2 AND upload_id = $3""",
                channel.value,
                day,
                upload_id,
            )
        )

    async def upload_lines(self, channel: Channel, day: dt.date, upload_id: str) -> list[SettlementLine]:
        rows = await self._conn.fetch(
            """SELECT line_number, channel_transaction_id, order_id, amount_fen, settled_at FROM settlement_upload_lines
               WHERE channel = $1 AND settlement_date = $2 AND upload_id = $3 ORDER BY line_number""",
            channel.value,
            day,
            upload_id,
        )
        return [
            SettlementLine(
                r["line_number"], r["channel_transaction_id"], r["order_id"], Fen(r["amount_fen"]), r["settled_at"]
            )
            for r in rows
        ]

    async def drop_upload(self, channel: Channel, day: dt.date, upload_id: str) -> None:
        """The lines live on in the report version; the staging rows go."""
        await self._conn.execute(
            "DELETE FROM settlement_uploads WHERE channel = $1 AND settlement_date = $2 AND upload_id = $3",
            channel.value,
            day,
            upload_id,
        )

    async def payments_of_day(self, channel: Channel, start: dt.datetime, end: dt.datetime) -> list[OurPayment]:
        """Money we recorded from the channel whose payment time falls in [start, end)."""
        rows = await self._conn.fetch(
            """SELECT payment_id, channel_transaction_id, order_id, amount_fen FROM payments
               WHERE channel = $1 AND paid_at >= $2 AND paid_at < $3 AND outcome IN ($4, $5)""",
            channel.value,
            start,
            end,
            PaymentOutcome.APPLIED.value,
            PaymentOutcome.REFUND_RAISED.value,
        )
        return [
            OurPayment(str(r["payment_id"]), r["channel_transaction_id"], str(r["order_id"]), Fen(r["amount_fen"]))
            for r in rows
        ]

    async def refused_for_amount(
        self, channel: Channel, start: dt.datetime, end: dt.datetime
    ) -> list[RefusedNotification]:
        """Notifications refused because the amount differed from the order (R22), once per transaction."""
        rows = await self._conn.fetch(
            """SELECT DISTINCT ON (n.channel_transaction_id) n.channel_transaction_id, n.order_id, n.amount_fen,
                      o.total_fen
               FROM notification_records n
               LEFT JOIN orders o ON o.order_id::text = n.order_id
               WHERE n.channel = $1 AND n.outcome = $4 AND n.paid_at >= $2 AND n.paid_at < $3
                 AND n.channel_transaction_id IS NOT NULL
               ORDER BY n.channel_transaction_id, n.received_at""",
            channel.value,
            start,
            end,
            NotificationOutcome.AMOUNT_MISMATCH.value,
        )
        return [
            RefusedNotification(
                r["channel_transaction_id"], r["order_id"] or "", Fen(r["amount_fen"]), Fen(r["total_fen"] or 0)
            )
            for r in rows
        ]

    async def latest(self, channel: Channel, day: dt.date) -> ReportVersion | None:
        return await self.version(channel, day, 0)

    async def version(self, channel: Channel, day: dt.date, version: int) -> ReportVersion | None:
        """A report version (0: the latest)."""
        row = await self._conn.fetchrow(
            """SELECT version, file_sha256, file_record_count, matched_count, matched_amount_fen, created_at
               FROM reconciliation_reports WHERE channel = $1 AND settlement_date = $2 AND ($3 = 0 OR version = $3)
               ORDER BY version DESC LIMIT 1""",
            channel.value,
            day,
            version,
        )
        if row is None:
            return None
        return ReportVersion(
            row["version"],
            bytes(row["file_sha256"]),
            row["file_record_count"],
            row["matched_count"],
            Fen(row["matched_amount_fen"]),
            row["created_at"],
        )

    async def version_count(self, channel: Channel, day: dt.date) -> int:
        return int(
            await self._conn.fetchval(
                "SELECT count(*) FROM reconciliation_reports WHERE channel = $1 AND settlement_date = $2",
                channel.value,
                day,
            )
        )

    async def insert_report(
        self, channel: Channel, day: dt.date, report: ReportVersion, findings: Sequence[Finding]
    ) -> None:
        await self._conn.execute(
            """INSERT INTO reconciliation_reports (channel, settlement_date, version, file_sha256, file_record_count,
                   matched_count, matched_amount_fen, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            channel.value,
            day,
            report.version,
            report.file_sha256,
            report.file_record_count,
            report.matched_count,
            report.matched_amount_fen,
            report.created_at,
        )
        await self._conn.execute(
            """INSERT INTO reconciliation_lines (channel, settlement_date, version, position, outcome, line_number,
                   channel_transaction_id, order_id, payment_id, tax_amount_fen, channel_amount_fen,
                   refused_notification)
               SELECT $1, $2, $3, f.position, f.outcome, f.line_number, f.txn, f.ord, f.payment, f.tax, f.chan,
                      f.refused
               FROM unnest($4::int[], $5::text[], $6::int[], $7::text[], $8::text[], $9::uuid[], $10::bigint[],
                           $11::bigint[], $12::bool[])
                    AS f(position, outcome, line_number, txn, ord, payment, tax, chan, refused)""",
            channel.value,
            day,
            report.version,
            list(range(len(findings))),
            [f.outcome.value for f in findings],
            [f.line_number for f in findings],
            [f.channel_transaction_id for f in findings],
            [f.order_id for f in findings],
            [uuid.UUID(f.payment_id) if f.payment_id else None for f in findings],
            [f.tax_amount_fen for f in findings],
            [f.channel_amount_fen for f in findings],
            [f.refused_notification for f in findings],
        )

    async def mismatches(self, channel: Channel, day: dt.date, version: int) -> list[Finding]:
        rows = await self._conn.fetch(
            """SELECT outcome, line_number, channel_transaction_id, order_id, payment_id, tax_amount_fen,
                      channel_amount_fen, refused_notification
               FROM reconciliation_lines WHERE channel = $1 AND settlement_date = $2 AND version = $3
                 AND outcome <> $4 ORDER BY position""",
            channel.value,
            day,
            version,
            Outcome.MATCHED.value,
        )
        return [
            Finding(
                Outcome(r["outcome"]),
                r["channel_transaction_id"],
                line_number=r["line_number"],
                order_id=r["order_id"],
                payment_id=str(r["payment_id"]) if r["payment_id"] else None,
                tax_amount_fen=Fen(r["tax_amount_fen"]) if r["tax_amount_fen"] is not None else None,
                channel_amount_fen=Fen(r["channel_amount_fen"]) if r["channel_amount_fen"] is not None else None,
                refused_notification=r["refused_notification"],
            )
            for r in rows
        ]
