"""Domain errors to gRPC statuses (AIP-193), in one table."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.errors import DomainError, ErrorKind

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
}


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """google.rpc.Status with ErrorInfo, BadRequest (when a field is at fault) and a zh-CN LocalizedMessage."""
    code = GRPC_CODES[error.kind]
    details = [
        _packed(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)),
    ]
    if error.violations:
        details.append(
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                        for v in error.violations
                    ]
                )
            )
        )
    details.append(_packed(error_details_pb2.LocalizedMessage(locale="zh-CN", message=error.message_zh)))
    return status_pb2.Status(code=code.value[0], message=error.message, details=details)


def to_grpc_status(error: DomainError) -> grpc.Status:
    return rpc_status.to_status(to_status_proto(error))


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
