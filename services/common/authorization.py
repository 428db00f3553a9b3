"""Who may call which RPC (R35): the mechanism. Each service hands the platform its own table
(`AccessTable`: a grant list per method and the reader of the facts its conditions look at), made in
the service's own wing (services/<service>/access.py); the platform knows no agency's methods or fields.

A grant names a kind of caller and, for some methods, a condition binding the request to the caller (a
channel notifies only for its own channel, a hospital checks only with the hospital purpose). A method
without an entry is refused for everyone but the development identity; the call policy refuses to serve
a service whose table misses one of its methods, and tests/unit/test_authorization.py checks every
service's table against its descriptor.

Pure: the call policy (services/common/caller_authorization.py) reads the facts out of the request with
the table's reader and logs the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.common.identity import CallerKind, Identity

K = CallerKind


class Facts(Protocol):
    """What a service's conditions look at, read from the request by the service's own reader."""

    def logged(self) -> Mapping[str, object]:
        """What the audit line of a refusal shows of them (short, never a person's number)."""
        ...


@dataclass(frozen=True)
class NoFacts:
    """The facts of a request whose grants need none (or that did not parse)."""

    def logged(self) -> Mapping[str, object]:
        return {}


NO_FACTS = NoFacts()
# Reads the facts out of a request (a protobuf message); made by the service that knows its fields.
FactsReader = Callable[[Any], Facts]


def no_facts(request: Any) -> Facts:
    return NO_FACTS


@dataclass(frozen=True)
class Denial:
    reason: str
    message: str
    message_zh: str


# A condition answers None when the request is the caller's to make, or why not. It receives the facts
# its service's reader made.
Condition = Callable[[Identity, Any], Denial | None]


@dataclass(frozen=True)
class Grant:
    kind: CallerKind
    condition: Condition | None = None


def anyone_of(*kinds: CallerKind) -> tuple[Grant, ...]:
    """Each of these kinds, with no condition."""
    return tuple(Grant(kind) for kind in kinds)


class AccessTable:
    """One service's table: its methods (by name) and who may call each; `facts` reads what the
    conditions look at. Indexed by method and kind once, for the call path: a lookup, not a scan."""

    def __init__(self, service: str, grants: Mapping[str, tuple[Grant, ...]], facts: FactsReader = no_facts) -> None:
        self.service = service
        self.grants = grants
        self.facts = facts
        self._index: Mapping[str, Mapping[CallerKind, tuple[Condition | None, ...]]] = {
            method: {kind: tuple(g.condition for g in given if g.kind is kind) for kind in {g.kind for g in given}}
            for method, given in grants.items()
        }

    def missing(self, methods: Iterable[str]) -> list[str]:
        """The methods of `methods` that have no entry (a service must have none)."""
        return [method for method in methods if not self.grants.get(method)]

    def reads_request(self, method: str, kind: CallerKind) -> bool:
        """Whether a `kind` caller's call of `method` depends on the request (else its kind decides alone)."""
        conditions = self._index.get(method, {}).get(kind, ())
        return bool(conditions) and None not in conditions

    def authorize(self, identity: Identity, method: str, facts: Facts = NO_FACTS) -> Denial | None:
        """None when `identity` may call `method` (a name of this service's) with these facts, else why not."""
        if identity.kind is K.LOCAL:
            return None
        conditions = self._index.get(method, {}).get(identity.kind)
        if not conditions:
            return Denial(
                "CALLER_NOT_ALLOWED",
                f"a {identity.kind.value} caller may not call {method}",
                "调用方无权调用此接口",
            )
        denial: Denial | None = None
        for condition in conditions:
            if condition is None:
                return None
            denial = condition(identity, facts)
            if denial is None:
                return None
        return denial

    def decide(self, identity: Identity, method: str, request: Any) -> Denial | None:
        """`authorize` with the facts read from `request` (what the call policy does, for tests and tools)."""
        facts = self.facts(request) if self.reads_request(method, identity.kind) else NO_FACTS
        return self.authorize(identity, method, facts)


NOBODY = AccessTable("", {})  # a service handed no table: only the development identity may call it
