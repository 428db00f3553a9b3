"""Batch registration (批量参保申报, R9): every row goes through the one registration pipeline and gets
its own result; a bad row never blocks the good ones; a resubmitted row (same batch id and row
number) returns its stored result and creates nothing."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from services.common.clock import Clock
from services.common.errors import DomainError, FailedPrecondition, required
from services.registration.batches_repository import StoredRow
from services.registration.domain.batch import Row, RowOutcome, RowResult, check_rows, checked_batch_id
from services.registration.domain.model import EnrollmentState
from services.registration.handlers.registration import Application, register
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def register_batch(
    batch_id: str, submitter_code: str, rows: Sequence[Row], uow: RegistrationUnitOfWork, clock: Clock
) -> list[RowResult]:
    """Registers a chunk of a batch; returns one result per row, in the order given."""
    now = clock.now()
    batch_id = checked_batch_id(batch_id)
    submitter_code = required(submitter_code, "submitter_code", "报送单位代码")
    check_rows(rows)
    first_submitter = await uow.batches.ensure(batch_id, submitter_code, now)
    if first_submitter != submitter_code:
        raise FailedPrecondition(
            "BATCH_SUBMITTER_MISMATCH",
            f"batch {batch_id} was submitted by {first_submitter}, not {submitter_code}",
            "该批次已由其他单位报送",
            metadata={"batch_id": batch_id, "submitter_code": first_submitter},
        )
    stored = await uow.batches.rows(batch_id, [r.row_number for r in rows])
    results: dict[int, RowResult] = {}
    fresh: list[Row] = []
    for row in rows:
        previous = stored.get(row.row_number)
        if previous is None:
            fresh.append(row)
            if row.refusal is not None:
                results[row.row_number] = RowResult.refused(row.row_number, row.refusal)
        elif previous.fingerprint == row.fingerprint:
            results[row.row_number] = previous.result
        else:
            results[row.row_number] = RowResult.refused(
                row.row_number,
                FailedPrecondition(
                    "ROW_CHANGED",
                    f"row {row.row_number} of batch {batch_id} was already submitted with other content",
                    f"批次{batch_id}第{row.row_number}行已按不同内容报送,原结果保留",
                    metadata={"row_number": row.row_number},
                ),
            )
    outcomes = await register([_application(r) for r in fresh if r.refusal is None], uow, now)
    for row in fresh:
        if row.refusal is not None:
            continue
        outcome = outcomes[row.row_number]
        if isinstance(outcome, DomainError):
            results[row.row_number] = RowResult.refused(row.row_number, outcome)
        else:
            state = RowOutcome.REGISTERED if outcome.state is EnrollmentState.ACTIVE else RowOutcome.PENDING_REVIEW
            results[row.row_number] = RowResult(row.row_number, state, enrollment_id=outcome.enrollment_id)
    await uow.batches.insert_rows(batch_id, [StoredRow(r.fingerprint, results[r.row_number]) for r in fresh])
    refused = sum(1 for r in fresh if results[r.row_number].outcome is RowOutcome.REFUSED)
    log.info(
        "batch_chunk_registered",
        batch_id=batch_id,
        rows=len(rows),
        replayed=len(rows) - len(fresh),
        registered=len(fresh) - refused,
        refused=refused,
    )
    return [results[r.row_number] for r in rows]


def _application(row: Row) -> Application:
    return Application(
        key=row.row_number,
        resident_id_number=row.resident_id_number,
        name=row.name,
        phone=row.phone,
        region_code=row.region_code or None,
        school_code=row.school_code or None,
        category=row.category,
        evidence=row.evidence,
    )
