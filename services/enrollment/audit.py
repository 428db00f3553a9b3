"""The audit log of checks: who asked about whom, when, and why.

Written in batches (COPY) a fraction of a second after the answer, so the hot read path costs no
write per call. If the audit table cannot be written for long (backlog above a bound), checks are
refused: nobody may look a person up without the lookup being recorded.

No record can switch auditing off: caller ids are checked at the edge (R34), and should a record still
be refused by the database, the batch is written row by row, the refused record is isolated (written
with its text fields escaped, or else reported and dropped) and every other record is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import asyncpg
import structlog

from services.common.db import Connection, Pool
from services.common.errors import Unavailable

log = structlog.get_logger(__name__)

MAX_BACKLOG = 200_000
COLUMNS = ["checked_at", "caller_id", "purpose", "resident_id_numbers", "correlation_id"]
AuditRow = tuple[dt.datetime, str, str, list[str], str]
# What the database refuses in a record's values (bad encoding, NUL): the record is at fault, not the
# connection, so it is isolated instead of blocking the batch.
_RECORD_FAULTS = (asyncpg.DataError, UnicodeError, ValueError, TypeError)


class AuditLog:
    def __init__(self, flush_seconds: float = 0.2) -> None:
        self._rows: list[AuditRow] = []
        self._flush_seconds = flush_seconds
        self._pool: Pool | None = None

    def record(self, at: dt.datetime, caller_id: str, purpose: str, numbers: list[str], correlation_id: str) -> None:
        if len(self._rows) >= MAX_BACKLOG:
            raise Unavailable(
                "AUDIT_UNAVAILABLE",
                "the audit log cannot be written; checks are paused",
                "审计日志暂不可用,查询暂停服务",
            )
        self._rows.append((at, caller_id, purpose, numbers, correlation_id))

    async def run(self, pool: Pool, stop: asyncio.Event) -> None:
        """Flushes every `flush_seconds` until stopped, then once more."""
        self._pool = pool
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._flush_seconds)
            await self.flush()
        # Also when the stop came before the first wait: nothing recorded is left unwritten.
        await self.flush()

    async def flush(self) -> None:
        if not self._rows or self._pool is None:
            return
        rows, self._rows = self._rows, []
        try:
            async with self._pool.acquire() as conn:
                try:
                    await _copy(conn, rows)
                except _RECORD_FAULTS:
                    await self._write_one_by_one(conn, rows)
        except Exception as exc:
            self._rows = rows + self._rows
            log.warning("audit_flush_failed", pending=len(self._rows), error=type(exc).__name__)

    async def _write_one_by_one(self, conn: Connection, rows: list[AuditRow]) -> None:
        """Some record of the batch was refused: write each alone, isolating the ones at fault."""
        for index, row in enumerate(rows):
            try:
                await _copy(conn, [row])
            except _RECORD_FAULTS as exc:
                await self._isolate(conn, row, exc)
            except Exception:
                # The connection, not the record: keep the rest pending for the next flush.
                self._rows = rows[index:] + self._rows
                raise

    async def _isolate(self, conn: Connection, row: AuditRow, exc: Exception) -> None:
        escaped = _escaped(row)
        try:
            await _copy(conn, [escaped])
            log.warning("audit_record_isolated", written="escaped", error=type(exc).__name__, caller_id=escaped[1])
        except _RECORD_FAULTS as again:
            log.error("audit_record_dropped", error=type(again).__name__, caller_id=escaped[1][:64])


async def _copy(conn: Connection, rows: list[AuditRow]) -> None:
    await conn.copy_records_to_table("enrollment_check_audit", records=rows, columns=COLUMNS)


def _escaped(row: AuditRow) -> AuditRow:
    """The record with every text field cut to a sane length and its unstorable characters escaped."""
    at, caller, purpose, numbers, correlation_id = row
    return (at, _text(caller), _text(purpose), [_text(n) for n in numbers], _text(correlation_id))


def _text(value: str) -> str:
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value[:128])
