"""The authorization step of the call policy (R35): who is calling (services/common/tls.py), may they
make this call (the table the service handed in, services/common/authorization.py), and, if not,
PERMISSION_DENIED in the project's error format with one audit line saying who, which RPC and why. An
admitted caller is bound for the rest of the call (`current_caller()`, and `caller` in every log line of
the call)."""

from __future__ import annotations

from typing import Any, NoReturn

import structlog
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from services.common.authorization import NO_FACTS, NOBODY, AccessTable, Denial, Facts
from services.common.errors import PermissionDenied
from services.common.identity import CallerKind, Identity, bind_caller
from services.common.tls import Callers

log = structlog.get_logger(__name__)

_UNKNOWN = Denial(
    "CALLER_UNKNOWN",
    "the caller's certificate names no known identity (kind:name)",
    "调用方证书未载明有效身份",
)
_NO_LOAD_TESTS = Denial(
    "LOADTEST_CALLERS_NOT_ADMITTED",
    "this system admits no load-test callers (MEDINS_LOADTEST_CALLERS)",
    "本系统不接受压力测试调用方",
)


class CallAuthorization:
    """The authorization of one method (`/package.Service/Method`), made once when the server is built."""

    def __init__(self, method: str, callers: Callers, access: AccessTable = NOBODY) -> None:
        self.method = method
        self._name = method.rsplit("/", 1)[-1]
        self._callers = callers
        self._access = access

    def admit(self, request: Any, context: Any) -> Identity:
        """The caller, bound for the call; raises PermissionDenied (and logs the audit line) if refused.
        A request that did not parse names nothing the conditions look at: the kind of caller decides,
        and the edge checks refuse the request right after."""
        identity = self._callers.of(context)
        if identity is None:
            self._deny("unknown", _UNKNOWN, NO_FACTS)
        bind_caller(identity)
        structlog.contextvars.bind_contextvars(caller=identity.text)
        if identity.kind is CallerKind.LOCAL:
            return identity
        if identity.kind is CallerKind.LOADTEST and not self._callers.loadtest:
            self._deny(identity.text, _NO_LOAD_TESTS, NO_FACTS)
        facts: Facts = NO_FACTS
        if isinstance(request, Message) and self._access.reads_request(self._name, identity.kind):
            facts = self._access.facts(request)
        denial = self._access.authorize(identity, self._name, facts)
        if denial is not None:
            self._deny(identity.text, denial, facts)
        return identity

    def _deny(self, caller: str, denial: Denial, facts: Facts) -> NoReturn:
        log.warning(
            "rpc_permission_denied", audit=True, caller=caller, rpc=self.method, reason=denial.reason, **facts.logged()
        )
        raise PermissionDenied(
            denial.reason,
            denial.message,
            denial.message_zh,
            metadata={"caller": caller, "method": self._name},
        )


def enum_names(descriptor: Descriptor, field: str, prefix: str) -> dict[int, str]:
    """An enum field's values by number, named without their prefix: for a service's facts reader. An
    enum number this server does not know (proto3 keeps them) is missing, and names nobody's value."""
    enum = descriptor.fields_by_name[field].enum_type
    assert enum is not None, f"{descriptor.full_name}.{field} is not an enum"
    return {value.number: value.name.removeprefix(prefix) for value in enum.values}
