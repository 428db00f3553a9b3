"""The authorization step of the call policy (R35): who is calling (services/common/tls.py), may they
make this call (the table of services/common/authorization.py), and, if not, PERMISSION_DENIED in the
project's error format with one audit line saying who, which RPC and why. An admitted caller is bound
for the rest of the call (`current_caller()`, and `caller` in every log line of the call)."""

from __future__ import annotations

from typing import Any, NoReturn

import structlog
from google.protobuf.message import Message

from services.common.authorization import CallFacts, Denial, authorize, conditions_of
from services.common.errors import PermissionDenied
from services.common.identity import Identity, bind_caller
from services.common.tls import Callers

log = structlog.get_logger(__name__)

_UNKNOWN = Denial(
    "CALLER_UNKNOWN",
    "the caller's certificate names no known identity (kind:name)",
    "调用方证书未载明有效身份",
)


class CallAuthorization:
    """The authorization of one method, made once when the server is built."""

    def __init__(self, method: str, callers: Callers) -> None:
        self.method = method
        self._callers = callers
        self._reads_request = conditions_of(method)

    def admit(self, request: Any, context: Any) -> Identity:
        """The caller, bound for the call; raises PermissionDenied (and logs the audit line) if refused.
        A request that did not parse names no channel or purpose: the kind of caller decides, and the
        edge checks refuse the request right after."""
        identity = self._callers.of(context)
        if identity is None:
            self._deny("unknown", _UNKNOWN, CallFacts())
        bind_caller(identity)
        structlog.contextvars.bind_contextvars(caller=str(identity))
        facts = facts_of(request) if self._reads_request and isinstance(request, Message) else CallFacts()
        denial = authorize(identity, self.method, facts)
        if denial is not None:
            self._deny(str(identity), denial, facts)
        return identity

    def _deny(self, caller: str, denial: Denial, facts: CallFacts) -> NoReturn:
        log.warning(
            "rpc_permission_denied",
            audit=True,
            caller=caller,
            rpc=self.method,
            reason=denial.reason,
            channels=list(facts.channels[:10]),
            purpose=facts.purpose,
        )
        raise PermissionDenied(
            denial.reason,
            denial.message,
            denial.message_zh,
            metadata={"caller": caller, "method": self.method.rsplit("/", 1)[-1]},
        )


def _enum_name(message: Message, field: str, prefix: str) -> str:
    descriptor = message.DESCRIPTOR.fields_by_name[field].enum_type
    value = descriptor.values_by_number.get(getattr(message, field)) if descriptor else None
    # An enum number this server does not know (proto3 keeps them) is no channel or purpose of anyone's.
    return value.name.removeprefix(prefix) if value is not None else "UNKNOWN"


def facts_of(request: Message) -> CallFacts:
    """What the table's conditions look at, by the field names the protos use for them."""
    fields = request.DESCRIPTOR.fields_by_name
    channels: list[str] = []
    if "channel" in fields:
        channels.append(_enum_name(request, "channel", "PAYMENT_CHANNEL_"))
    if "notifications" in fields:
        channels.extend(_enum_name(n, "channel", "PAYMENT_CHANNEL_") for n in request.notifications)  # type: ignore[attr-defined]
    return CallFacts(
        channels=tuple(channels),
        purpose=_enum_name(request, "purpose", "CHECK_PURPOSE_") if "purpose" in fields else None,
        officer_id=request.officer_id if "officer_id" in fields else None,  # type: ignore[attr-defined]
    )
