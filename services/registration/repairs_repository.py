"""Repaired years (R38), one row per repair payment and year. Every query uses $n."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from services.common.db import Connection


class RepairsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, number: str, year: int, payment_id: str, enrollment_id: str, now: dt.datetime) -> bool:
        """Keeps a paid repair; False when this payment's repair of the year was recorded before."""
        inserted = await self._conn.fetchval(
            """INSERT INTO repairs (resident_id_number, insurance_year, payment_id, enrollment_id, recorded_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
            number,
            year,
            payment_id,
            uuid.UUID(enrollment_id),
            now,
        )
        return bool(inserted)

    async def withdraw(self, number: str, year: int, payment_id: str) -> bool:
        """The repair's payment was refunded: the year counts as missed again."""
        changed = await self._conn.fetchval(
            """UPDATE repairs SET withdrawn = true
               WHERE resident_id_number = $1 AND insurance_year = $2 AND payment_id = $3 AND NOT withdrawn
               RETURNING true""",
            number,
            year,
            payment_id,
        )
        return bool(changed)

    async def years_of(self, number: str) -> set[int]:
        """The person's repaired years (not withdrawn)."""
        return (await self.years_of_many([number])).get(number, set())

    async def years_of_many(self, numbers: Sequence[str]) -> dict[str, set[int]]:
        """Each person's repaired years (not withdrawn)."""
        found: dict[str, set[int]] = {}
        for r in await self._conn.fetch(
            """SELECT DISTINCT resident_id_number, insurance_year FROM repairs
               WHERE resident_id_number = ANY($1::text[]) AND NOT withdrawn""",
            list(numbers),
        ):
            found.setdefault(r["resident_id_number"], set()).add(r["insurance_year"])
        return found
