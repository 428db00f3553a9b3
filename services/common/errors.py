"""Domain errors: what went wrong, in the caller's terms, without any transport detail.

The gRPC layer turns them into AIP-193 statuses (services/common/grpc_errors.py, one table): the kind
picks the canonical code, `reason` is our stable UPPER_SNAKE code, `metadata` carries every variable of
the message, `violations` become google.rpc.BadRequest, and `message_zh` a zh-CN LocalizedMessage.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    CONFLICT = "CONFLICT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAVAILABLE = "UNAVAILABLE"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """An expected refusal. Raising one rolls back the unit of work: nothing is half-written."""

    kind: ErrorKind = ErrorKind.FAILED_PRECONDITION
    # How long the caller should wait before retrying (google.rpc.RetryInfo); None: no advice.
    retry_after: float | None = None

    def __init__(
        self,
        reason: str,
        message: str,
        message_zh: str,
        *,
        field: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.message_zh = message_zh
        self.metadata = {k: str(v) for k, v in (metadata or {}).items()}
        self.violations: tuple[FieldViolation, ...] = (FieldViolation(field, message),) if field else ()

    @property
    def field(self) -> str | None:
        return self.violations[0].field if self.violations else None


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION


class Conflict(DomainError):
    """The request contradicts what was already recorded (e.g. a reused transaction id)."""

    kind = ErrorKind.CONFLICT


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED


class PermissionDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE


class Unimplemented(DomainError):
    """An RPC of the API whose issue has not landed yet."""

    kind = ErrorKind.UNIMPLEMENTED


class ResourceExhausted(DomainError):
    """The service (or the caller's share of it) is busy: nothing was done; retry after `retry_after`
    seconds (issue 22)."""

    kind = ErrorKind.RESOURCE_EXHAUSTED

    def __init__(
        self,
        reason: str,
        message: str,
        message_zh: str,
        *,
        retry_after: float,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(reason, message, message_zh, metadata=metadata)
        self.retry_after = retry_after


class DeadlineExceeded(DomainError):
    """The call's deadline passed (or would have) before it could start: nothing was done."""

    kind = ErrorKind.DEADLINE_EXCEEDED


def required(value: str, field: str, label_zh: str) -> str:
    """Returns the value stripped, or raises INVALID_ARGUMENT naming the missing field."""
    stripped = value.strip()
    if not stripped:
        raise InvalidArgument(
            "FIELD_REQUIRED",
            f"{field} is required",
            f"{label_zh}不能为空",
            field=field,
            metadata={"field": field},
        )
    return stripped
