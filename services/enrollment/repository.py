"""Reads of the enrollment check: one primary-key lookup (or one ANY() lookup) on the read model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.common.db import Pool


class CheckRepository:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def docs(self, numbers: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The check documents of these persons (absent persons are missing from the result)."""
        async with self._pool.acquire() as conn:
            if len(numbers) == 1:
                raw = await conn.fetchval(
                    "SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", numbers[0]
                )
                return {numbers[0]: json.loads(raw)} if raw is not None else {}
            rows = await conn.fetch(
                "SELECT resident_id_number, doc FROM enrollment_check_index WHERE resident_id_number = ANY($1::text[])",
                list(numbers),
            )
        return {r["resident_id_number"]: json.loads(r["doc"]) for r in rows}
