"""Hospitals' reports that the fund paid for a person in a year (R39, RecordFundUse). Every query uses $n."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from services.common.db import Connection


class FundUsesRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(
        self, reported_by: str, settlement_id: str, number: str, year: int, fund_paid_fen: int, now: dt.datetime
    ) -> bool:
        """Keeps one report; False when this hospital already reported this settlement."""
        inserted = await self._conn.fetchval(
            """INSERT INTO fund_uses (reported_by, settlement_id, resident_id_number, insurance_year, fund_paid_fen,
                   recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
            reported_by,
            settlement_id,
            number,
            year,
            fund_paid_fen,
            now,
        )
        return bool(inserted)

    async def years_of(self, numbers: Sequence[str]) -> dict[str, set[int]]:
        """The years the fund paid for each of these persons."""
        found: dict[str, set[int]] = {}
        for r in await self._conn.fetch(
            """SELECT DISTINCT resident_id_number, insurance_year FROM fund_uses
               WHERE resident_id_number = ANY($1::text[])""",
            list(numbers),
        ):
            found.setdefault(r["resident_id_number"], set()).add(r["insurance_year"])
        return found
