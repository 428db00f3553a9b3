"""Reads of the enrollment check: primary-key lookups on the read model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg

from services.common.db import Pool
from services.enrollment.domain.check_document import CheckDocument, read_document

SLICE = 250


class CheckRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def doc(self, number: str) -> CheckDocument | None:
        """One person's check document, or None when nobody with that number is known."""
        stored = await self._pool.fetchval(
            "SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", number
        )
        return read_document(stored) if stored is not None else None

    async def docs(self, numbers: Sequence[str]) -> dict[str, CheckDocument]:
        """The check documents of these persons (absent persons are missing from the result). A big
        batch is looked up in slices on several connections at once, so PostgreSQL works on it with
        more than one core while this process decodes."""
        ordered = sorted(numbers)
        slices = [ordered[i : i + SLICE] for i in range(0, len(ordered), SLICE)]
        found: dict[str, CheckDocument] = {}
        for rows in await asyncio.gather(*(self._fetch(s) for s in slices)):
            found.update((r["resident_id_number"], read_document(r["doc"])) for r in rows)
        return found

    async def _fetch(self, numbers: list[str]) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT resident_id_number, doc FROM enrollment_check_index WHERE resident_id_number = ANY($1::text[])",
            numbers,
        )
