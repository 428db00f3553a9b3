"""SQL for collection results (R29): counts and sums by category, channel and day; no rules here."""

from __future__ import annotations

import datetime as dt

import asyncpg

from services.collection.domain.model import ItemStatus
from services.collection.domain.results import Breakdown
from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange

# The item states by_category counts, in the order of its parameters $3-$6.
_PAID_SUBSIDISED_UNPAID_CANCELLED = (
    ItemStatus.PAID.value,
    ItemStatus.SETTLED_BY_SUBSIDY.value,
    ItemStatus.UNPAID.value,
    ItemStatus.CANCELLED.value,
)


class ResultsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def by_category(self, region: str, year: int) -> list[Breakdown]:
        rows = await self._conn.fetch(
            """SELECT category AS key, count(*) AS assessed,
                      count(*) FILTER (WHERE status = $3) AS paid,
                      count(*) FILTER (WHERE status = $4) AS subsidised,
                      count(*) FILTER (WHERE status = $5) AS unpaid,
                      COALESCE(sum(amount_fen) FILTER (WHERE status = $3), 0) AS paid_fen,
                      COALESCE(sum(amount_fen) FILTER (WHERE status = $5), 0) AS unpaid_fen
               FROM payable_items WHERE region_code = $1 AND insurance_year = $2 AND status <> $6
               GROUP BY category ORDER BY category""",
            region,
            year,
            *_PAID_SUBSIDISED_UNPAID_CANCELLED,
        )
        return [_breakdown(r) for r in rows]

    async def by_channel(self, region: str, year: int) -> list[Breakdown]:
        rows = await self._conn.fetch(
            """SELECT p.channel AS key, count(*) AS assessed,
                      count(*) FILTER (WHERE i.status = $3) AS paid,
                      count(*) FILTER (WHERE i.status = $4) AS subsidised,
                      0 AS unpaid,
                      COALESCE(sum(i.amount_fen) FILTER (WHERE i.status = $3), 0) AS paid_fen,
                      0 AS unpaid_fen
               FROM payable_items i JOIN payments p ON p.payment_id = i.paid_by_payment_id
               WHERE i.region_code = $1 AND i.insurance_year = $2 AND i.status IN ($3, $4)
               GROUP BY p.channel ORDER BY p.channel""",
            region,
            year,
            ItemStatus.PAID.value,
            ItemStatus.SETTLED_BY_SUBSIDY.value,
        )
        return [_breakdown(r) for r in rows]

    async def persons(self, region: str, year: int) -> tuple[int, int]:
        """(persons assessed, persons with nothing left unpaid)."""
        row = await self._conn.fetchrow(
            """SELECT count(*) AS enrolled, count(*) FILTER (WHERE unpaid = 0) AS settled FROM (
                   SELECT resident_id_number, count(*) FILTER (WHERE status = $3) AS unpaid
                   FROM payable_items WHERE region_code = $1 AND insurance_year = $2 AND status <> $4
                   GROUP BY resident_id_number) per_person""",
            region,
            year,
            ItemStatus.UNPAID.value,
            ItemStatus.CANCELLED.value,
        )
        assert row is not None
        return int(row["enrolled"]), int(row["settled"])

    async def window(self, region: str, year: int) -> DateRange | None:
        row = await self._conn.fetchrow(
            """SELECT min(window_start) AS start, max(window_end) AS "end" FROM payable_items
               WHERE region_code = $1 AND insurance_year = $2""",
            region,
            year,
        )
        return DateRange(row["start"], row["end"]) if row and row["start"] else None

    async def owed_by_day(self, region: str, year: int) -> dict[dt.date, int]:
        """Items a person owes (paid or not; neither cancelled nor subsidised) by their CST assessment day."""
        rows = await self._conn.fetch(
            """SELECT (created_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n FROM payable_items
               WHERE region_code = $1 AND insurance_year = $2 AND status IN ($3, $4) GROUP BY 1""",
            region,
            year,
            ItemStatus.UNPAID.value,
            ItemStatus.PAID.value,
        )
        return {r["day"]: int(r["n"]) for r in rows}

    async def paid_by_day(self, region: str, year: int) -> dict[dt.date, tuple[int, int]]:
        rows = await self._conn.fetch(
            """SELECT (p.paid_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*) AS n, sum(i.amount_fen) AS fen
               FROM payable_items i JOIN payments p ON p.payment_id = i.paid_by_payment_id
               WHERE i.region_code = $1 AND i.insurance_year = $2 AND i.status = $3 GROUP BY 1""",
            region,
            year,
            ItemStatus.PAID.value,
        )
        return {r["day"]: (int(r["n"]), int(r["fen"])) for r in rows}


def _breakdown(row: asyncpg.Record) -> Breakdown:
    return Breakdown(
        key=row["key"],
        assessed_count=int(row["assessed"]),
        paid_count=int(row["paid"]),
        subsidised_count=int(row["subsidised"]),
        unpaid_count=int(row["unpaid"]),
        paid_amount_fen=Fen(int(row["paid_fen"])),
        unpaid_amount_fen=Fen(int(row["unpaid_fen"])),
    )
