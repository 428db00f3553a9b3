"""Coverage as records (R14, R14a): each grant and withdrawal of coverage, and each refusal to grant, is
an append-only row keyed by the payment. Every query uses $n."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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

    async def of_enrollments(self, enrollment_ids: Sequence[str]) -> list[CoverageEntry]:
        """Every grant, restart and withdrawal of these enrollments, in the order recorded."""
        rows = await self._conn.fetch(
            """SELECT payment_id, enrollment_id, insurance_year, kind, recorded_at, wait FROM coverage_grants
               WHERE enrollment_id = ANY($1::uuid[]) ORDER BY recorded_at, kind""",
            [uuid.UUID(i) for i in enrollment_ids],
        )
        return [
            CoverageEntry(
                r["payment_id"],
                str(r["enrollment_id"]),
                r["insurance_year"],
                RecordKind(r["kind"]),
                r["recorded_at"],
                r["wait"],
            )
            for r in rows
        ]


@dataclass(frozen=True)
class CoverageEntry:
    """One coverage record as stored: its wait (waiting.wait_to_json) on a GRANT or RESTART."""

    payment_id: str
    enrollment_id: str
    insurance_year: int
    kind: RecordKind
    recorded_at: dt.datetime
    wait: Mapping[str, Any] | None
