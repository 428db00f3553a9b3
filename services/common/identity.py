"""Who is calling (R35): an identity `kind:name`, read from the caller's certificate (its common name,
e.g. `channel:wechat`, `hospital:340800001`, `officer:wang`), and the caller of the call in progress.

Pure: no transport here. services/common/tls.py reads the certificate; the call policy binds the caller
for the length of a call, so that what runs inside it (request ids scoped to the caller, the per-person
trail) asks `current_caller()` instead of being handed the gRPC context.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import re
from dataclasses import dataclass


class CallerKind(enum.StrEnum):
    """The kinds of caller the services' authorization tables know (services/common/authorization.py)."""

    # A payment channel (WeChat, Alipay, a bank, the e-tax hall...): name = the channel, lower case.
    CHANNEL = "channel"
    # A hospital settling bills: name = its code.
    HOSPITAL = "hospital"
    # Another city's (region's) insurance system: name = its region code.
    CITY = "city"
    # The tax bureau's own systems (counters, e-tax back office, collection desks).
    TAX = "tax"
    # The insurance bureau's own systems (registration desks and portals, its account system).
    REGISTRATION = "registration"
    # An officer of the insurance bureau: name = the officer id quoted in reviews.
    OFFICER = "officer"
    # An operator of the system (the `medins` CLI): refunds, reconciliation, lists and reports.
    OPERATOR = "operator"
    # A load-test client: plays the load mix (registers, orders, pays, checks, reads records), on
    # systems that admit load-test callers only (Settings.admits_loadtest_callers).
    LOADTEST = "loadtest"
    # A health probe (Kubernetes' exec probes under mutual TLS, issue 24): health only, which any caller
    # the transport admits may ask; no RPC of the API grants it anything.
    PROBE = "probe"
    # Development without TLS: nothing is authenticated, so the configured local identity may do all.
    # Never read from a certificate (tls.py refuses it).
    LOCAL = "local"


_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class InvalidIdentity(ValueError):
    """A text that is not `kind:name` with a known kind and a plain name."""


@dataclass(frozen=True)
class Identity:
    kind: CallerKind
    name: str

    @functools.cached_property
    def text(self) -> str:
        """`kind:name`, as in the certificate (made once: it is logged and keyed on every call)."""
        return f"{self.kind.value}:{self.name}"

    def __str__(self) -> str:
        return self.text


def parse_identity(text: str) -> Identity:
    """`kind:name` → Identity. Names are lower-case letters, digits, `.`, `_` and `-` (1-64)."""
    kind, sep, name = text.partition(":")
    if not sep:
        raise InvalidIdentity(f"identity {text[:80]!r} is not kind:name")
    try:
        caller_kind = CallerKind(kind)
    except ValueError:
        raise InvalidIdentity(f"unknown caller kind {kind[:32]!r}") from None
    if not _NAME.fullmatch(name):
        raise InvalidIdentity(f"identity name {name[:80]!r} must be 1-64 of a-z 0-9 . _ -")
    return Identity(caller_kind, name)


# Outside any call (workers, tests driving a use case directly): one in-process caller.
IN_PROCESS = Identity(CallerKind.LOCAL, "in-process")
_current: contextvars.ContextVar[Identity] = contextvars.ContextVar("medins_caller", default=IN_PROCESS)


def current_caller() -> Identity:
    """The caller of the call in progress (IN_PROCESS outside a call)."""
    return _current.get()


def bind_caller(identity: Identity) -> None:
    """Makes `identity` the caller for the rest of the current task (the call policy, once per call)."""
    _current.set(identity)
