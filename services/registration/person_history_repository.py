"""What a grant's wait depends on, read in one round trip (R37, R38): the years of every enrollment of
the person in a status the domain names, and their repaired years. Every query uses $n."""

from __future__ import annotations

from services.common.db import Connection
from services.registration.domain.model import YearStatus


class PersonHistoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def years_of(self, number: str, status: YearStatus) -> tuple[set[int], set[int]]:
        """The person's years in `status`, in any region, and the missed years they repaired."""
        row = await self._conn.fetchrow(
            """SELECT ARRAY(SELECT DISTINCT y.insurance_year
                            FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
                            WHERE e.resident_id_number = $1 AND y.status = $2) AS years,
                      ARRAY(SELECT DISTINCT insurance_year FROM repairs
                            WHERE resident_id_number = $1 AND NOT withdrawn) AS repaired""",
            number,
            status.value,
        )
        assert row is not None
        return set(row["years"]), set(row["repaired"])
