"""Domain errors to gRPC statuses (AIP-193), in one table."""

from __future__ import annotations

import datetime as dt

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import DomainError, ErrorKind
from services.common.masking import mask_text

ERROR_DOMAIN = "medins"

GRPC_CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.CONFLICT: grpc.StatusCode.ABORTED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
}

# An error never echoes more than a short, masked prefix of what the caller sent (R34): every text that
# goes into the status is clipped, so the trailers stay far below 8 kB whatever the input was.
MAX_MESSAGE_CHARS = 300
MAX_METADATA_CHARS = 64
MAX_METADATA_ENTRIES = 12
MAX_VIOLATIONS = 10


def clip(text: str, limit: int) -> str:
    """`text` masked (ID and card numbers) and cut to `limit` characters, marking the cut."""
    # Mask a little more than is kept, so a number cut at the edge was already masked whole.
    masked = mask_text(text[: limit + 40])
    if len(text) <= limit and len(masked) <= limit:
        return masked
    return masked[: limit - 1] + "…"


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """google.rpc.Status with ErrorInfo, BadRequest (when a field is at fault), RetryInfo (when the caller
    should come back later) and a zh-CN LocalizedMessage."""
    code = GRPC_CODES[error.kind]
    metadata = {
        clip(key, MAX_METADATA_CHARS): clip(value, MAX_METADATA_CHARS)
        for key, value in list(error.metadata.items())[:MAX_METADATA_ENTRIES]
    }
    details = [
        _packed(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata)),
    ]
    if error.violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=clip(v.field, MAX_METADATA_CHARS * 2),
                            description=clip(v.description, MAX_MESSAGE_CHARS),
                        )
                        for v in error.violations[:MAX_VIOLATIONS]
                    ]
                )
            )
        )
    if error.retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromTimedelta(dt.timedelta(seconds=error.retry_after))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
    details.append(
        _packed(error_details_pb2.LocalizedMessage(locale="zh-CN", message=clip(error.message_zh, MAX_MESSAGE_CHARS)))
    )
    return status_pb2.Status(code=code.value[0], message=clip(error.message, MAX_MESSAGE_CHARS), details=details)


def to_grpc_status(error: DomainError) -> grpc.Status:
    """The status of `error`; with a retry delay, also the `grpc-retry-pushback-ms` trailer, which is how
    grpc's own retries (the service config of deploy/grpc/service_config.json) learn the delay."""
    status = rpc_status.to_status(to_status_proto(error))
    if error.retry_after is None:
        return status
    pushback = ("grpc-retry-pushback-ms", str(max(1, round(error.retry_after * 1000))))
    return _Status(status.code, status.details, (*status.trailing_metadata, pushback))


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, str | bytes], ...]):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def internal_status(correlation_id: str) -> grpc.Status:
    """What a caller sees for a bug: no internals, only the id to quote to the operators."""
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error; quote correlation id {correlation_id}",
        details=[
            _packed(
                error_details_pb2.ErrorInfo(
                    reason="INTERNAL", domain=ERROR_DOMAIN, metadata={"correlation_id": correlation_id}
                )
            ),
            _packed(
                error_details_pb2.LocalizedMessage(
                    locale="zh-CN", message=f"系统内部错误,请联系运维人员并提供编号{correlation_id}"
                )
            ),
        ],
    )
    return rpc_status.to_status(status)
