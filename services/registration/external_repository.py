"""Enrollments other systems reported (employee insurance, other regions), R8. Every query uses $n."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg

from services.common.db import Connection
from services.registration.domain.model import ExternalEnrollment, Scheme

_COLUMNS = """external_enrollment_id, resident_id_number, name, region_code, region_name, scheme,
    reporting_agency, active, created_at, ended_at, end_reason"""


class ExternalRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def active_of(self, numbers: Sequence[str]) -> dict[str, list[ExternalEnrollment]]:
        """The active external enrollments of these persons, oldest first."""
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM external_enrollments
                WHERE resident_id_number = ANY($1::text[]) AND active ORDER BY created_at""",
            list(numbers),
        )
        found: dict[str, list[ExternalEnrollment]] = {}
        for r in rows:
            found.setdefault(r["resident_id_number"], []).append(_external(r))
        return found

    async def all_of(self, number: str) -> list[ExternalEnrollment]:
        """Every external enrollment reported for a person, ended ones too, oldest first (R37)."""
        return (await self.all_of_many([number])).get(number, [])

    async def all_of_many(self, numbers: Sequence[str]) -> dict[str, list[ExternalEnrollment]]:
        """Every external enrollment of these persons, ended ones too, oldest first (R37, R39)."""
        rows = await self._conn.fetch(
            f"""SELECT {_COLUMNS} FROM external_enrollments WHERE resident_id_number = ANY($1::text[])
                ORDER BY created_at""",
            list(numbers),
        )
        found: dict[str, list[ExternalEnrollment]] = {}
        for r in rows:
            found.setdefault(r["resident_id_number"], []).append(_external(r))
        return found

    async def get(self, external_id: str, *, for_update: bool = False) -> ExternalEnrollment | None:
        try:
            key = uuid.UUID(external_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM external_enrollments WHERE external_enrollment_id = $1{lock}", key
        )
        return _external(row) if row else None

    async def insert(self, external: ExternalEnrollment) -> None:
        await self._conn.execute(
            """INSERT INTO external_enrollments (external_enrollment_id, resident_id_number, name, region_code,
                   region_name, scheme, reporting_agency, active, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            uuid.UUID(external.external_enrollment_id),
            external.resident_id_number,
            external.name,
            external.region_code,
            external.region_name,
            external.scheme.value,
            external.reporting_agency,
            external.active,
            external.created_at,
        )

    async def end(self, external_id: str, reason: str, now: dt.datetime) -> None:
        await self._conn.execute(
            """UPDATE external_enrollments SET active = false, ended_at = $2, end_reason = $3
               WHERE external_enrollment_id = $1""",
            uuid.UUID(external_id),
            now,
            reason,
        )


def _external(r: asyncpg.Record) -> ExternalEnrollment:
    return ExternalEnrollment(
        external_enrollment_id=str(r["external_enrollment_id"]),
        resident_id_number=r["resident_id_number"],
        name=r["name"],
        region_code=r["region_code"],
        region_name=r["region_name"],
        scheme=Scheme(r["scheme"]),
        reporting_agency=r["reporting_agency"],
        active=r["active"],
        created_at=r["created_at"],
        ended_at=r["ended_at"],
        end_reason=r["end_reason"],
    )
