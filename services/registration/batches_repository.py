"""Batch registration's stored results (R9): each row's outcome, so a resubmission returns it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.common.db import Connection
from services.registration.domain.batch import RowOutcome, RowResult

_ROW_COLUMNS = """row_number, fingerprint, outcome, enrollment_id, error_reason, error_field, error_message,
    error_metadata"""


@dataclass(frozen=True)
class StoredRow:
    fingerprint: bytes
    result: RowResult


@dataclass(frozen=True)
class BatchSummary:
    batch_id: str
    submitter_code: str
    row_count: int
    accepted_count: int
    refused_count: int


class BatchesRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def ensure(self, batch_id: str, submitter_code: str, now: dt.datetime) -> str:
        """Creates the batch if new and locks it; returns the submitter it was first created with."""
        await self._conn.execute(
            """INSERT INTO registration_batches (batch_id, submitter_code, created_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            batch_id,
            submitter_code,
            now,
        )
        return str(
            await self._conn.fetchval(
                "SELECT submitter_code FROM registration_batches WHERE batch_id = $1 FOR UPDATE", batch_id
            )
        )

    async def rows(self, batch_id: str, row_numbers: Sequence[int]) -> dict[int, StoredRow]:
        records = await self._conn.fetch(
            f"""SELECT {_ROW_COLUMNS} FROM registration_batch_rows
                WHERE batch_id = $1 AND row_number = ANY($2::int[])""",
            batch_id,
            list(row_numbers),
        )
        return {r["row_number"]: StoredRow(bytes(r["fingerprint"]), _result(r)) for r in records}

    async def insert_rows(self, batch_id: str, rows: Sequence[StoredRow]) -> None:
        if not rows:
            return
        await self._conn.executemany(
            """INSERT INTO registration_batch_rows (batch_id, row_number, fingerprint, outcome, enrollment_id,
                   error_reason, error_field, error_message, error_metadata)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            [
                (
                    batch_id,
                    s.result.row_number,
                    s.fingerprint,
                    s.result.outcome.value,
                    uuid.UUID(s.result.enrollment_id) if s.result.enrollment_id else None,
                    s.result.error_reason,
                    s.result.error_field,
                    s.result.error_message,
                    s.result.error_metadata if s.result.outcome is RowOutcome.REFUSED else None,
                )
                for s in rows
            ],
        )

    async def summary(self, batch_id: str) -> BatchSummary | None:
        row = await self._conn.fetchrow(
            """SELECT b.batch_id, b.submitter_code, count(r.row_number) AS row_count,
                      count(*) FILTER (WHERE r.outcome <> $2) AS accepted_count,
                      count(*) FILTER (WHERE r.outcome = $2) AS refused_count
               FROM registration_batches b LEFT JOIN registration_batch_rows r USING (batch_id)
               WHERE b.batch_id = $1 GROUP BY b.batch_id, b.submitter_code""",
            batch_id,
            RowOutcome.REFUSED.value,
        )
        if row is None:
            return None
        return BatchSummary(
            row["batch_id"], row["submitter_code"], row["row_count"], row["accepted_count"], row["refused_count"]
        )

    async def page(self, batch_id: str, refused_only: bool, after: int, limit: int) -> list[RowResult]:
        records = await self._conn.fetch(
            f"""SELECT {_ROW_COLUMNS} FROM registration_batch_rows
                WHERE batch_id = $1 AND row_number > $2 AND (NOT $3 OR outcome = $4)
                ORDER BY row_number LIMIT $5""",
            batch_id,
            after,
            refused_only,
            RowOutcome.REFUSED.value,
            limit,
        )
        return [_result(r) for r in records]


def _result(r: asyncpg.Record) -> RowResult:
    return RowResult(
        row_number=r["row_number"],
        outcome=RowOutcome(r["outcome"]),
        enrollment_id=str(r["enrollment_id"]) if r["enrollment_id"] else None,
        error_reason=r["error_reason"],
        error_field=r["error_field"],
        error_message=r["error_message"],
        error_metadata=dict(r["error_metadata"] or {}),
    )
