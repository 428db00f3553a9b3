"""Batch registration (批量参保申报, R9) values: a template row, its result, and the checks on a chunk."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.common.errors import DomainError, InvalidArgument, required
from services.registration.domain.model import Category, Evidence

MAX_ROWS_PER_CALL = 2_000
MAX_BATCH_ID_LENGTH = 128


class RowOutcome(enum.StrEnum):
    REGISTERED = "REGISTERED"
    PENDING_REVIEW = "PENDING_REVIEW"
    REFUSED = "REFUSED"


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
    # A field of the row broke its rule at the edge (R9 over R34): the row's result, not the call's.
    refusal: DomainError | None = None


@dataclass(frozen=True)
class RowResult:
    row_number: int
    outcome: RowOutcome
    enrollment_id: str | None = None
    error_reason: str | None = None
    error_field: str | None = None
    error_message: str | None = None
    error_metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def refused(cls, row_number: int, error: DomainError) -> RowResult:
        return cls(
            row_number,
            RowOutcome.REFUSED,
            error_reason=error.reason,
            error_field=error.field or "",
            error_message=error.message_zh,
            error_metadata=dict(error.metadata),
        )


def row_fingerprint(serialized_row: bytes) -> bytes:
    return hashlib.sha256(serialized_row).digest()


def checked_batch_id(batch_id: str) -> str:
    batch_id = required(batch_id, "batch_id", "批次号")
    if len(batch_id) > MAX_BATCH_ID_LENGTH or not batch_id.isprintable():
        raise InvalidArgument(
            "INVALID_BATCH_ID",
            f"batch_id must be 1-{MAX_BATCH_ID_LENGTH} printable characters",
            "批次号格式不正确",
            field="batch_id",
        )
    return batch_id


def check_row_count(count: int) -> None:
    """A chunk is 1 to MAX_ROWS_PER_CALL rows: checked before any row is looked at (R41)."""
    if not count:
        raise InvalidArgument("FIELD_REQUIRED", "rows must not be empty", "报送内容不能为空", field="rows")
    if count > MAX_ROWS_PER_CALL:
        raise InvalidArgument(
            "TOO_MANY_ROWS",
            f"at most {MAX_ROWS_PER_CALL} rows per call; send the batch in chunks with the same batch_id",
            f"每次最多报送{MAX_ROWS_PER_CALL}行,请以同一批次号分次报送",
            field="rows",
            metadata={"maximum": MAX_ROWS_PER_CALL, "given": count},
        )


def check_rows(rows: Sequence[Row]) -> None:
    """A chunk is 1 to MAX_ROWS_PER_CALL rows with distinct positive row numbers."""
    check_row_count(len(rows))
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
