"""Coverage as records (R14, R14a): each grant and withdrawal of coverage, and each refusal to grant, is
an append-only row keyed by the payment. Every query uses $n."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping

from services.common.db import Connection


class RecordKind(enum.StrEnum):
    GRANT = "GRANT"
    WITHDRAWAL = "WITHDRAWAL"
    RESTART = "RESTART"  # a granted year's wait decided again, ending earlier (R38)


class CoverageRecordsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(
        self,
        kind: RecordKind,
        payment_id: str,
        enrollment_id: str,
        year: int,
        now: dt.datetime,
        wait: Mapping[str, object] | None = None,
    ) -> bool:
        """Appends a grant (with its wait, R37), a restart or a withdrawal; False when this payment
        already has one for the year."""
        inserted = await self._conn.fetchval(
            """INSERT INTO coverage_grants (payment_id, enrollment_id, insurance_year, kind, recorded_at, wait)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            payment_id,
            uuid.UUID(enrollment_id),
            year,
            kind.value,
            now,
            wait,
        )
        return bool(inserted)

    async def record_refusal(
        self, payment_id: str, enrollment_id: str, year: int, reason: str, now: dt.datetime
    ) -> bool:
        """Keeps why a payment could not be granted; False when it was already recorded."""
        inserted = await self._conn.fetchval(
            """INSERT INTO coverage_refusals (payment_id, enrollment_id, insurance_year, reason, recorded_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
            payment_id,
            uuid.UUID(enrollment_id),
            year,
            reason,
            now,
        )
        return bool(inserted)
