"""SQL for deduction runs and their attempts (R27): each attempt committed before the bank is called."""

from __future__ import annotations

import datetime as dt
import uuid

from services.collection.domain.deductions import OPEN_ATTEMPT, AttemptStatus, OpenAttempt
from services.collection.sql_literals import state_literal
from services.common.db import Connection
from services.common.money import Fen

# The predicates of the partial indexes deduction_attempts_open and deduction_attempts_one_open_per_agreement,
# named so that the statements below can use them (sql_literals).
_OPEN = state_literal(*OPEN_ATTEMPT)


class DeductionsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def start_run(self, run_id: str, now: dt.datetime) -> None:
        await self._conn.execute(
            "INSERT INTO deduction_runs (run_id, started_at) VALUES ($1, $2)", uuid.UUID(run_id), now
        )

    async def finish_run(
        self, run_id: str, now: dt.datetime, *, attempted: int, succeeded: int, failed: int, unknown: int
    ) -> None:
        await self._conn.execute(
            """UPDATE deduction_runs SET finished_at = $2, attempted = $3, succeeded = $4, failed = $5, unknown = $6
               WHERE run_id = $1""",
            uuid.UUID(run_id),
            now,
            attempted,
            succeeded,
            failed,
            unknown,
        )

    async def insert_attempt(
        self, attempt_id: str, agreement_id: str, run_id: str, order_id: str, amount: Fen, now: dt.datetime
    ) -> None:
        await self._conn.execute(
            """INSERT INTO deduction_attempts (attempt_id, agreement_id, run_id, order_id, amount_fen, status,
                   created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $7, $6, $6)""",
            uuid.UUID(attempt_id),
            uuid.UUID(agreement_id),
            uuid.UUID(run_id),
            uuid.UUID(order_id),
            amount,
            now,
            AttemptStatus.SENT.value,
        )

    async def has_open_attempt(self, agreement_id: str) -> bool:
        return bool(
            await self._conn.fetchval(
                f"""SELECT EXISTS (SELECT 1 FROM deduction_attempts
                   WHERE agreement_id = $1 AND status IN ({_OPEN}))""",
                uuid.UUID(agreement_id),
            )
        )

    async def open_attempts(self, limit: int) -> list[OpenAttempt]:
        rows = await self._conn.fetch(
            f"""SELECT attempt_id, agreement_id, order_id, amount_fen, status FROM deduction_attempts
               WHERE status IN ({_OPEN}) ORDER BY created_at LIMIT $1""",
            limit,
        )
        return [
            OpenAttempt(
                str(r["attempt_id"]),
                str(r["agreement_id"]),
                str(r["order_id"]),
                Fen(r["amount_fen"]),
                AttemptStatus(r["status"]),
            )
            for r in rows
        ]

    async def lock_open_attempt(self, attempt_id: str) -> OpenAttempt | None:
        row = await self._conn.fetchrow(
            f"""SELECT attempt_id, agreement_id, order_id, amount_fen, status FROM deduction_attempts
               WHERE attempt_id = $1 AND status IN ({_OPEN}) FOR UPDATE SKIP LOCKED""",
            uuid.UUID(attempt_id),
        )
        if row is None:
            return None
        return OpenAttempt(
            str(row["attempt_id"]),
            str(row["agreement_id"]),
            str(row["order_id"]),
            Fen(row["amount_fen"]),
            AttemptStatus(row["status"]),
        )

    async def finish_attempt(
        self,
        attempt_id: str,
        status: AttemptStatus,
        now: dt.datetime,
        *,
        bank_transaction_id: str | None = None,
        payment_id: str | None = None,
        failure_reason: str | None = None,
    ) -> None:
        await self._conn.execute(
            """UPDATE deduction_attempts SET status = $2, bank_transaction_id = COALESCE($3, bank_transaction_id),
                   payment_id = $4, failure_reason = $5, updated_at = $6 WHERE attempt_id = $1""",
            uuid.UUID(attempt_id),
            status.value,
            bank_transaction_id,
            uuid.UUID(payment_id) if payment_id else None,
            failure_reason,
            now,
        )
