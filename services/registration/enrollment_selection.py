"""Which enrollments a list or a worker works on: officers' lists, renewal (R10) and age-out (R12)
candidates. Reads only; the rules (states, categories, the 18th-birthday cutoff) come as parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from services.common.db import Connection
from services.registration.domain.model import Category, Enrollment, EnrollmentState
from services.registration.enrollments_repository import (
    ENROLLMENT_COLUMNS,
    EnrollmentsRepository,
    enrollment_from_row,
)


class EnrollmentSelection:
    def __init__(self, conn: Connection, enrollments: EnrollmentsRepository) -> None:
        self._conn = conn
        self._enrollments = enrollments

    async def list_by_region(
        self, region_code: str, state: EnrollmentState | None, after: tuple[str, str] | None, limit: int
    ) -> list[Enrollment]:
        rows = await self._conn.fetch(
            f"""SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                WHERE region_code = $1 AND ($2::text IS NULL OR state = $2)
                  AND ($3::timestamptz IS NULL OR (created_at, enrollment_id) > ($3::timestamptz, $4::uuid))
                ORDER BY created_at, enrollment_id LIMIT $5""",
            region_code,
            state.value if state else None,
            dt.datetime.fromisoformat(after[0]) if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
        return await self._enrollments.with_details(rows)

    async def list_ended_in(
        self, state: EnrollmentState, region_code: str, year: int, after: str | None, limit: int
    ) -> list[Enrollment]:
        """Enrollments of the region in `state` that ended in `year` (officers list the aged-out, R12)."""
        rows = await self._conn.fetch(
            f"""SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                WHERE state = $1 AND region_code = $2 AND stop_year = $3 AND enrollment_id > $4::uuid
                ORDER BY enrollment_id LIMIT $5""",
            state.value,
            region_code,
            year,
            uuid.UUID(after or str(uuid.UUID(int=0))),
            limit,
        )
        return await self._enrollments.with_details(rows)

    async def lock_due_for_year(
        self,
        region_code: str,
        year: int,
        state: EnrollmentState,
        leave_out: tuple[Collection[Category], dt.date],
        limit: int,
    ) -> list[Enrollment]:
        """Enrollments of the region in `state` not yet carried into `year`, locked; rows another worker
        holds are skipped. `leave_out` is (categories, birth cutoff): those born on or before the cutoff
        in those categories are left to the age-out."""
        categories, cutoff = leave_out
        rows = await self._conn.fetch(
            f"""SELECT {ENROLLMENT_COLUMNS} FROM enrollments e
                WHERE e.region_code = $1 AND e.state = $3
                  AND NOT EXISTS (SELECT 1 FROM enrollment_years y
                                  WHERE y.enrollment_id = e.enrollment_id AND y.insurance_year = $2)
                  AND NOT (e.category = ANY($4::text[]) AND e.birth_date <= $5)
                ORDER BY e.enrollment_id LIMIT $6 FOR UPDATE SKIP LOCKED""",
            region_code,
            year,
            state.value,
            sorted(c.value for c in categories),
            cutoff,
            limit,
        )
        return [enrollment_from_row(r) for r in rows]

    async def lock_born_by(
        self, state: EnrollmentState, categories: Collection[Category], cutoff: dt.date, limit: int
    ) -> list[Enrollment]:
        """Enrollments in `state` and these categories born on or before `cutoff`, locked with their
        years; rows another worker holds are skipped."""
        rows = await self._conn.fetch(
            f"""SELECT {ENROLLMENT_COLUMNS} FROM enrollments
                WHERE category = ANY($1::text[]) AND state = $2 AND birth_date <= $3
                ORDER BY enrollment_id LIMIT $4 FOR UPDATE SKIP LOCKED""",
            sorted(c.value for c in categories),
            state.value,
            cutoff,
            limit,
        )
        return await self._enrollments.with_details(rows, lock_years=True)
