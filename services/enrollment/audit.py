"""The audit log of checks: who asked about whom, when, and why.

Written in batches (COPY) a fraction of a second after the answer, so the hot read path costs no
write per call. If the audit table cannot be written for long (backlog above a bound), checks are
refused: nobody may look a person up without the lookup being recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import structlog

from services.common.db import Pool
from services.common.errors import Unavailable

log = structlog.get_logger(__name__)

MAX_BACKLOG = 200_000


class AuditLog:
    def __init__(self, flush_seconds: float = 0.2) -> None:
        self._rows: list[tuple[dt.datetime, str, str, list[str], str]] = []
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

    async def flush(self) -> None:
        if not self._rows or self._pool is None:
            return
        rows, self._rows = self._rows, []
        try:
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "enrollment_check_audit",
                    records=rows,
                    columns=["checked_at", "caller_id", "purpose", "resident_id_numbers", "correlation_id"],
                )
        except Exception as exc:
            self._rows = rows + self._rows
            log.warning("audit_flush_failed", pending=len(self._rows), error=f"{type(exc).__name__}: {exc}")
