"""Batch registration (批量参保申报, R9): every row gets its own result; a bad row never blocks the
good ones; a resubmitted row (same batch id and row number) returns its stored result and creates
nothing. Set-based: one round of queries per chunk, not per row, so 10,000 rows stay fast."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from services.common.clock import Clock
from services.common.errors import DomainError, FailedPrecondition, InvalidArgument, required
from services.common.messaging import envelope as event_types
from services.common.resident_id import parse_resident_id
from services.registration import events
from services.registration.domain.duplicates import HeldEnrollment, check_not_enrolled
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    ExternalEnrollment,
    Region,
    RegionPolicy,
    School,
)
from services.registration.domain.registration import (
    Applicant,
    YearAssessment,
    check_applicant,
    new_enrollment,
    place_of,
)
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)

MAX_ROWS_PER_CALL = 2_000
MAX_BATCH_ID_LENGTH = 128


@dataclass(frozen=True)
class Row:
    row_number: int
    resident_id_number: str
    name: str
    phone: str
    region_code: str
    school_code: str
    category: Category | DomainError
    evidence: tuple[Evidence, ...] | DomainError
    fingerprint: bytes


@dataclass
class RowResult:
    row_number: int
    outcome: str  # REGISTERED | PENDING_REVIEW | REFUSED
    enrollment_id: str | None = None
    error_reason: str | None = None
    error_field: str | None = None
    error_message: str | None = None
    error_metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def refused(cls, row_number: int, error: DomainError) -> RowResult:
        return cls(
            row_number,
            "REFUSED",
            error_reason=error.reason,
            error_field=error.field or "",
            error_message=error.message_zh,
            error_metadata=dict(error.metadata),
        )


def row_fingerprint(serialized_row: bytes) -> bytes:
    return hashlib.sha256(serialized_row).digest()


@dataclass
class _Context:
    """Everything the rows of one chunk refer to, read in a few queries."""

    regions: dict[str, Region]
    schools: dict[str, School]
    policies: dict[str, dict[int, RegionPolicy]]
    open_enrollments: dict[str, tuple[str, str]]
    external: dict[str, ExternalEnrollment]


async def register_batch(
    batch_id: str, submitter_code: str, rows: Sequence[Row], uow: RegistrationUnitOfWork, clock: Clock
) -> list[RowResult]:
    """Registers a chunk of a batch; returns one result per row, in the order given."""
    now = clock.now()
    today = now.date()
    batch_id = _checked_batch_id(batch_id)
    submitter_code = required(submitter_code, "submitter_code", "报送单位代码")
    _check_rows(rows)
    first_submitter = await uow.repo.ensure_batch(batch_id, submitter_code, now)
    if first_submitter != submitter_code:
        raise FailedPrecondition(
            "BATCH_SUBMITTER_MISMATCH",
            f"batch {batch_id} was submitted by {first_submitter}, not {submitter_code}",
            "该批次已由其他单位报送",
            metadata={"batch_id": batch_id, "submitter_code": first_submitter},
        )
    stored = await uow.repo.batch_rows(batch_id, [r.row_number for r in rows])
    results: dict[int, RowResult] = {}
    fresh: list[Row] = []
    for row in rows:
        previous = stored.get(row.row_number)
        if previous is None:
            fresh.append(row)
        elif bytes(previous["fingerprint"]) == row.fingerprint:
            results[row.row_number] = stored_result(previous)
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
    context = await _load_context(uow, fresh)
    accepted: list[tuple[Row, Enrollment, list[YearAssessment]]] = []
    seen: set[str] = set()
    for row in fresh:
        try:
            enrollment, years = _decide(row, context, seen, today, now)
        except DomainError as error:
            results[row.row_number] = RowResult.refused(row.row_number, error)
            continue
        accepted.append((row, enrollment, years))
    inserted = await uow.repo.insert_enrollments([e for _, e, _ in accepted])
    active_events = []
    year_rows: list[tuple[str, YearAssessment]] = []
    for row, enrollment, years in accepted:
        if enrollment.enrollment_id not in inserted:  # someone registered them concurrently
            results[row.row_number] = RowResult.refused(row.row_number, _already_enrolled())
            continue
        results[row.row_number] = RowResult(
            row.row_number,
            "REGISTERED" if enrollment.state is EnrollmentState.ACTIVE else "PENDING_REVIEW",
            enrollment_id=enrollment.enrollment_id,
        )
        if enrollment.state is EnrollmentState.ACTIVE:
            year_rows.extend((enrollment.enrollment_id, y) for y in years)
            active_events.append(events.registered(enrollment, years))
    await uow.repo.insert_years_of(year_rows)
    if active_events:
        await uow.outbox.add_many(event_types.ENROLLMENT_REGISTERED, active_events, occurred_at=now)
    await uow.repo.refresh_check_index(
        sorted({e.resident_id_number for _, e, _ in accepted if e.enrollment_id in inserted}), now
    )
    await uow.repo.insert_batch_rows(batch_id, [_result_row(results[r.row_number], r.fingerprint) for r in fresh])
    log.info(
        "batch_chunk_registered",
        batch_id=batch_id,
        rows=len(rows),
        replayed=len(rows) - len(fresh),
        registered=len(inserted),
        refused=sum(1 for r in fresh if results[r.row_number].outcome == "REFUSED"),
    )
    return [results[r.row_number] for r in rows]


def _checked_batch_id(batch_id: str) -> str:
    batch_id = required(batch_id, "batch_id", "批次号")
    if len(batch_id) > MAX_BATCH_ID_LENGTH or not batch_id.isprintable():
        raise InvalidArgument(
            "INVALID_BATCH_ID",
            f"batch_id must be 1-{MAX_BATCH_ID_LENGTH} printable characters",
            "批次号格式不正确",
            field="batch_id",
        )
    return batch_id


def _check_rows(rows: Sequence[Row]) -> None:
    if not rows:
        raise InvalidArgument("FIELD_REQUIRED", "rows must not be empty", "报送内容不能为空", field="rows")
    if len(rows) > MAX_ROWS_PER_CALL:
        raise InvalidArgument(
            "TOO_MANY_ROWS",
            f"at most {MAX_ROWS_PER_CALL} rows per call; send the batch in chunks with the same batch_id",
            f"每次最多报送{MAX_ROWS_PER_CALL}行,请以同一批次号分次报送",
            field="rows",
            metadata={"maximum": MAX_ROWS_PER_CALL, "given": len(rows)},
        )
    numbers: set[int] = set()
    for row in rows:
        if row.row_number <= 0:
            raise InvalidArgument(
                "INVALID_ROW_NUMBER", "row_number must be positive", "行号必须为正整数", field="rows.row_number"
            )
        if row.row_number in numbers:
            raise InvalidArgument(
                "DUPLICATE_ROW_NUMBER",
                f"row_number {row.row_number} appears twice in this call",
                f"行号{row.row_number}重复",
                field="rows.row_number",
                metadata={"row_number": row.row_number},
            )
        numbers.add(row.row_number)


async def _load_context(uow: RegistrationUnitOfWork, rows: Sequence[Row]) -> _Context:
    school_codes = sorted({r.school_code for r in rows if r.school_code})
    schools = {s.code: s for s in [await uow.repo.get_school(c) for c in school_codes] if s is not None}
    region_codes = sorted({r.region_code for r in rows if r.region_code} | {s.region_code for s in schools.values()})
    regions = {r.code: r for r in [await uow.repo.get_region(c) for c in region_codes] if r is not None}
    numbers = sorted({r.resident_id_number.strip().upper() for r in rows})
    open_enrollments = await uow.repo.open_enrollments_of(numbers)
    for _, region_code in open_enrollments.values():
        if region_code not in regions:
            found = await uow.repo.get_region(region_code)
            if found is not None:
                regions[region_code] = found
    return _Context(
        regions=regions,
        schools=schools,
        policies=await uow.repo.current_policies_of(sorted(regions)),
        open_enrollments=open_enrollments,
        external=await uow.repo.active_external_of(numbers),
    )


def _decide(
    row: Row, context: _Context, seen: set[str], today: dt.date, now: dt.datetime
) -> tuple[Enrollment, list[YearAssessment]]:
    if isinstance(row.category, DomainError):
        raise row.category
    if isinstance(row.evidence, DomainError):
        raise row.evidence
    resident_id = parse_resident_id(row.resident_id_number, today=today)
    region, school = place_of(row.region_code or None, row.school_code or None, context.regions, context.schools)
    applicant: Applicant = check_applicant(
        resident_id=resident_id,
        name=row.name,
        phone=row.phone,
        category=row.category,
        evidence=row.evidence,
        school_code=school.code if school else None,
        today=today,
    )
    if resident_id.number in seen:
        raise FailedPrecondition(
            "DUPLICATE_IN_BATCH",
            "this person appears in an earlier row of the same submission",
            "同一批次中此人已出现,不能重复参保",
            field="resident_id_number",
        )
    held = context.open_enrollments.get(resident_id.number)
    check_not_enrolled(
        resident_id_number=resident_id.number,
        target=region,
        held=HeldEnrollment(held[0], context.regions[held[1]]) if held else None,
        external=[context.external[resident_id.number]] if resident_id.number in context.external else [],
    )
    seen.add(resident_id.number)
    decided = new_enrollment(applicant, region, context.policies.get(region.code, {}), now)
    return decided.enrollment, decided.years


def _already_enrolled() -> FailedPrecondition:
    return FailedPrecondition(
        "ALREADY_ENROLLED",
        "this person was registered concurrently by another submission",
        "此人已有有效的参保登记,不能重复参保",
        field="resident_id_number",
    )


def stored_result(record: Any) -> RowResult:
    """A row result as read back from the batch table."""
    metadata = record["error_metadata"]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return RowResult(
        row_number=record["row_number"],
        outcome=record["outcome"],
        enrollment_id=str(record["enrollment_id"]) if record["enrollment_id"] else None,
        error_reason=record["error_reason"],
        error_field=record["error_field"],
        error_message=record["error_message"],
        error_metadata=dict(metadata or {}),
    )


def _result_row(result: RowResult, fingerprint: bytes) -> dict[str, Any]:
    return {
        "row_number": result.row_number,
        "fingerprint": fingerprint,
        "outcome": result.outcome,
        "enrollment_id": result.enrollment_id,
        "error_reason": result.error_reason,
        "error_field": result.error_field,
        "error_message": result.error_message,
        "error_metadata": result.error_metadata if result.outcome == "REFUSED" else None,
    }
