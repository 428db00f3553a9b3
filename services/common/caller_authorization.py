"""The authorization step of the call policy (R35): who is calling (services/common/tls.py), may they
make this call (the table of services/common/authorization.py), and, if not, PERMISSION_DENIED in the
project's error format with one audit line saying who, which RPC and why. An admitted caller is bound
for the rest of the call (`current_caller()`, and `caller` in every log line of the call)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import structlog
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from services.common.authorization import CallFacts, Denial, authorize, reads_request
from services.common.errors import PermissionDenied
from services.common.identity import CallerKind, Identity, bind_caller
from services.common.tls import Callers
from services.common.validation import max_items

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
    """The authorization of one method, made once when the server is built."""

    def __init__(self, method: str, callers: Callers) -> None:
        self.method = method
        self._callers = callers

    def admit(self, request: Any, context: Any) -> Identity:
        """The caller, bound for the call; raises PermissionDenied (and logs the audit line) if refused.
        A request that did not parse names no channel or purpose: the kind of caller decides, and the
        edge checks refuse the request right after."""
        identity = self._callers.of(context)
        if identity is None:
            self._deny("unknown", _UNKNOWN, CallFacts())
        bind_caller(identity)
        structlog.contextvars.bind_contextvars(caller=identity.text)
        if identity.kind is CallerKind.LOCAL:
            return identity
        if identity.kind is CallerKind.LOADTEST and not self._callers.loadtest:
            self._deny(identity.text, _NO_LOAD_TESTS, CallFacts())
        facts = _NO_FACTS
        if isinstance(request, Message) and reads_request(self.method, identity.kind):
            facts = _reader(request.DESCRIPTOR)(request)
        denial = authorize(identity, self.method, facts)
        if denial is not None:
            self._deny(identity.text, denial, facts)
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


_NO_FACTS = CallFacts()
FactsReader = Callable[[Message], CallFacts]


def _enum_names(descriptor: Descriptor, field: str, prefix: str) -> dict[int, str]:
    enum = descriptor.fields_by_name[field].enum_type
    assert enum is not None, f"{descriptor.full_name}.{field} is not an enum"
    return {value.number: value.name.removeprefix(prefix) for value in enum.values}


@functools.cache
def _reader(descriptor: Descriptor) -> FactsReader:
    """Reads the facts out of requests of one type, by the field names the protos use for them; made
    once per type. An enum number this server does not know (proto3 keeps them) names nobody's
    channel or purpose."""
    fields = descriptor.fields_by_name
    channel = _enum_names(descriptor, "channel", "PAYMENT_CHANNEL_") if "channel" in fields else None
    purpose = _enum_names(descriptor, "purpose", "CHECK_PURPOSE_") if "purpose" in fields else None
    notifications = _reader(fields["notifications"].message_type) if "notifications" in fields else None
    # A batch over its cap is refused whole at the edge right after (R41): the facts of the elements it
    # may hold decide, and reading them costs no more for a batch of 100,000.
    cap = max_items(fields["notifications"]) if "notifications" in fields else 0
    officer = "officer_id" in fields

    def read(request: Any) -> CallFacts:
        channels: tuple[str, ...] = ()
        if channel is not None:
            channels = (channel.get(request.channel, "UNKNOWN"),)
        if notifications is not None:
            batch = request.notifications
            listed = batch if len(batch) <= cap else batch[:cap]
            channels += tuple(dict.fromkeys(c for n in listed for c in notifications(n).channels))
        return CallFacts(
            channels=channels,
            purpose=purpose.get(request.purpose, "UNKNOWN") if purpose is not None else None,
            officer_id=request.officer_id if officer else None,
        )

    return read


def facts_of(request: Message) -> CallFacts:
    """What the table's conditions look at in `request`."""
    return _reader(request.DESCRIPTOR)(request)
