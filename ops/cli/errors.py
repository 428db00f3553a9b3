"""How `medins` tells an operator that something failed: one or two readable lines, never a traceback.

A refused call shows its gRPC status code, our ErrorInfo reason and message, and the BadRequest field
violations (AIP-193). A service that cannot be reached says which one and where. Exit statuses: 1 a
refused call, 2 a usage mistake (as argparse), 3 a service or the broker that cannot be reached."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import grpc
from google.rpc import error_details_pb2, status_pb2

EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
# Codes grpc itself answers when no server took the call (nothing listening, connection lost, too slow).
_TRANSPORT_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class CliError(Exception):
    """A mistake of the operator's (a bad value, a missing file) or a state the command cannot go on from;
    the message says what to do."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Refusal:
    """What a failed call said, decoded from its status and trailers."""

    code: str
    message: str
    reason: str = ""
    violations: tuple[tuple[str, str], ...] = ()
    localized: str = ""
    correlation_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """One line for the code, reason and message; a second for the field violations, if any."""
        head = f"{self.code} {self.reason}: {self.message}" if self.reason else f"{self.code}: {self.message}"
        if self.localized and self.localized != self.message:
            head += f" ({self.localized})"
        if self.correlation_id:
            head += f" [correlation id {self.correlation_id}]"
        lines = [head]
        if self.violations:
            # A violation that only repeats the message is named, not said twice.
            lines.append(
                "  fields: "
                + "; ".join(name if why == self.message else f"{name}: {why}" for name, why in self.violations)
            )
        return lines


def refusal_of(error: grpc.RpcError) -> Refusal:
    """Decodes a failed blocking call (its code, details and the google.rpc.Status in its trailers)."""
    call = cast(grpc.Call, error)
    code = call.code()
    reason, localized, correlation = "", "", ""
    violations: list[tuple[str, str]] = []
    metadata: dict[str, str] = {}
    for key, value in cast(Iterable[tuple[str, str | bytes]], call.trailing_metadata() or ()):
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                info, bad, message = (
                    error_details_pb2.ErrorInfo(),
                    error_details_pb2.BadRequest(),
                    error_details_pb2.LocalizedMessage(),
                )
                if detail.Unpack(info):
                    reason, metadata = info.reason, dict(info.metadata)
                elif detail.Unpack(bad):
                    violations += [(v.field, v.description) for v in bad.field_violations]
                elif detail.Unpack(message):
                    localized = message.message
        elif key == "x-correlation-id" and isinstance(value, str):
            correlation = value
    return Refusal(
        code=code.name if code is not None else "UNKNOWN",
        message=call.details() or "",
        reason=reason,
        violations=tuple(violations),
        localized=localized,
        correlation_id=correlation,
        metadata=metadata,
    )


@dataclass
class CallFailed(Exception):
    """A call to `service` at `address` failed; `refusal` is what it said."""

    service: str
    address: str
    refusal: Refusal

    @property
    def unreachable(self) -> bool:
        """No server answered: grpc's own UNAVAILABLE or deadline, without our ErrorInfo. A server that
        answers UNAVAILABLE DATABASE_UNAVAILABLE was reached and refused; it is shown as a refusal."""
        return self.refusal.code in {c.name for c in _TRANSPORT_CODES} and not self.refusal.reason

    @property
    def status(self) -> int:
        return EXIT_UNREACHABLE if self.unreachable else EXIT_REFUSED

    def lines(self) -> list[str]:
        if self.unreachable:
            return [
                f"cannot reach the {self.service} service at {self.address} ({self.refusal.code}: "
                f"{self.refusal.message})",
                "  is it running (make run)? give another address with --address",
            ]
        return [f"the {self.service} service refused: " + self.refusal.lines()[0], *self.refusal.lines()[1:]]
