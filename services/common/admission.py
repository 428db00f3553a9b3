"""Admission control (issue 22, R16, R35): how many calls of one service run at once, who waits, and who
is answered at once that the service is busy.

Every service process bounds its calls in progress (`max_in_flight`) and its waiting calls
(`max_queued`); every caller (the authenticated identity, kind + name) has a share of both
(`Share`: calls in progress, calls waiting), by kind from configuration. A call is started at once
when its caller is under its share and a slot is free; otherwise it waits in its caller's own queue, and
when a slot frees the waiting call of the highest priority whose caller has the fewest calls in progress
starts (ties: the caller served longest ago), so a caller with one call waiting goes before one with
five hundred. A caller whose own queue is full is refused (CALLER_OVER_SHARE); when the whole queue is
full, a caller under its share takes the place of the newest call of the caller with the most waiting
(refused CALLER_OVER_SHARE), and only when nobody waits more than it does is it refused (OVERLOADED). A
caller under its share is thus never refused because another is over. A call whose remaining time is
below `deadline_floor` is not started (DEADLINE_EXCEEDED), neither on arrival nor while it waits. A kind
of caller may also have a rate (call_rates.py): a caller over it is refused at once (CALLER_OVER_RATE).

`AdmissionState` is the pure logic (no clock, no I/O: the caller hands in the remaining time);
`Gate` is the thin asyncio part the call policy awaits."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.common.call_rates import CALLER_OVER_RATE, Rate, RateBook
from services.common.errors import DeadlineExceeded, ResourceExhausted
from services.common.identity import CallerKind, Identity

OVERLOADED = "OVERLOADED"
CALLER_OVER_SHARE = "CALLER_OVER_SHARE"
DEADLINE_TOO_SHORT = "DEADLINE_TOO_SHORT"


@dataclass(frozen=True)
class Share:
    """What one caller may hold: calls in progress, calls waiting."""

    in_flight: int
    queued: int


@dataclass(frozen=True)
class Limits:
    """The bounds of one service process (services/common/settings.py, MEDINS_ADMISSION_*)."""

    max_in_flight: int = 64
    max_queued: int = 1024
    share: Share = Share(16, 256)
    # Per kind of caller, instead of `share` (e.g. the development identity, which is every caller of a
    # plaintext system, and load-test callers, which play a whole population as one identity).
    kind_shares: Mapping[CallerKind, Share] = field(default_factory=dict)
    # Per kind of caller, a rate each caller of it may keep up (call_rates.py); none: shares alone.
    kind_rates: Mapping[CallerKind, Rate] = field(default_factory=dict)
    # How long a refused caller is told to wait before it retries (google.rpc.RetryInfo).
    retry_after: float = 0.1
    # A call with less time left than this is not started.
    deadline_floor: float = 0.002

    def share_of(self, kind: CallerKind) -> Share:
        return self.kind_shares.get(kind, self.share)


@dataclass(eq=False)
class Ticket:
    """One call waiting or running."""

    caller: Identity
    priority: int
    granted: bool = False
    done: bool = False


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after: float


@dataclass(eq=False)
class _Caller:
    share: Share
    in_flight: int = 0
    waiting: dict[int, deque[Ticket]] = field(default_factory=dict)
    queued: int = 0
    last_served: int = 0


class AdmissionState:
    """The pure bookkeeping of one service's calls: `offer` a call, `release` it when it ends, `withdraw`
    a waiting one (cancelled, or out of time). What `offer` and `release` grant must be started by the
    caller of these methods; what they evict must be refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.in_flight = 0
        self.queued = 0
        self._callers: dict[Identity, _Caller] = {}
        self._served = itertools.count(1)

    def waiting_of(self, caller: Identity) -> int:
        entry = self._callers.get(caller)
        return entry.queued if entry else 0

    def offer(
        self, caller: Identity, priority: int = 0, remaining: float | None = None
    ) -> tuple[Ticket | Refusal, Ticket | None]:
        """A new call: its ticket (granted: start now; else it waits) or its refusal, and a waiting call
        of another caller evicted to make room for it (to be refused CALLER_OVER_SHARE), if any."""
        if remaining is not None and remaining < self.limits.deadline_floor:
            return Refusal(DEADLINE_TOO_SHORT, 0.0), None
        entry = self._callers.get(caller)
        if entry is None:
            entry = self._callers[caller] = _Caller(self.limits.share_of(caller.kind))
        ticket = Ticket(caller, priority)
        if entry.in_flight < entry.share.in_flight and self.in_flight < self.limits.max_in_flight:
            self._grant(entry, ticket)
            return ticket, None
        if entry.queued >= entry.share.queued:
            self._forget_if_idle(caller, entry)
            return Refusal(CALLER_OVER_SHARE, self._retry_after(entry)), None
        evicted = None
        if self.queued >= self.limits.max_queued:
            evicted = self._evict_for(entry)
            if evicted is None:
                self._forget_if_idle(caller, entry)
                return Refusal(OVERLOADED, self.limits.retry_after), None
        entry.waiting.setdefault(priority, deque()).append(ticket)
        entry.queued += 1
        self.queued += 1
        return ticket, evicted

    def release(self, ticket: Ticket) -> list[Ticket]:
        """A granted call ended: the waiting calls that start in its place."""
        if ticket.done:
            return []
        ticket.done = True
        entry = self._callers[ticket.caller]
        entry.in_flight -= 1
        self.in_flight -= 1
        started = []
        while self.in_flight < self.limits.max_in_flight:
            chosen = self._next()
            if chosen is None:
                break
            started.append(chosen)
        self._forget_if_idle(ticket.caller, entry)
        return started

    def withdraw(self, ticket: Ticket) -> list[Ticket]:
        """A call leaves, whatever its state (cancelled, out of time): a waiting one leaves its queue, a
        granted one is released (and what starts in its place is returned)."""
        if ticket.granted:
            return self.release(ticket)
        if ticket.done:
            return []
        ticket.done = True
        entry = self._callers[ticket.caller]
        entry.waiting[ticket.priority].remove(ticket)
        self._unqueue(entry, ticket.priority)
        self._forget_if_idle(ticket.caller, entry)
        return []

    def _grant(self, entry: _Caller, ticket: Ticket) -> None:
        ticket.granted = True
        entry.in_flight += 1
        entry.last_served = next(self._served)
        self.in_flight += 1

    def _unqueue(self, entry: _Caller, priority: int) -> None:
        if not entry.waiting[priority]:
            del entry.waiting[priority]
        entry.queued -= 1
        self.queued -= 1

    def _next(self) -> Ticket | None:
        """The waiting call to start: highest priority, then the caller with the fewest calls in progress,
        then the caller served longest ago; callers at their share of calls in progress wait."""
        best: tuple[int, int, int] | None = None
        chosen: _Caller | None = None
        for entry in self._callers.values():
            if not entry.waiting or entry.in_flight >= entry.share.in_flight:
                continue
            rank = (-max(entry.waiting), entry.in_flight, entry.last_served)
            if best is None or rank < best:
                best, chosen = rank, entry
        if chosen is None or best is None:
            return None
        priority = -best[0]
        ticket = chosen.waiting[priority].popleft()
        self._unqueue(chosen, priority)
        self._grant(chosen, ticket)
        return ticket

    def _evict_for(self, newcomer: _Caller) -> Ticket | None:
        """The newest waiting call of lowest priority of the caller with the most waiting, if it waits more
        than `newcomer` would with one more."""
        victim = max(self._callers.values(), key=lambda e: e.queued)
        if victim is newcomer or victim.queued <= newcomer.queued + 1:
            return None
        priority = min(victim.waiting)
        ticket = victim.waiting[priority].pop()
        ticket.done = True
        self._unqueue(victim, priority)
        return ticket

    def _retry_after(self, entry: _Caller) -> float:
        """Longer the more the caller already has waiting: its queue must drain first."""
        return self.limits.retry_after * (1 + entry.queued // max(1, entry.share.in_flight))

    def _forget_if_idle(self, caller: Identity, entry: _Caller) -> None:
        if entry.in_flight == 0 and entry.queued == 0:
            self._callers.pop(caller, None)


def refusal_error(refusal: Refusal, service: str) -> ResourceExhausted | DeadlineExceeded:
    if refusal.reason == DEADLINE_TOO_SHORT:
        return DeadlineExceeded(
            DEADLINE_TOO_SHORT,
            "the call's deadline leaves no time to run it; nothing was done",
            "调用时限不足,未执行任何操作",
            metadata={"service": service},
        )
    if refusal.reason == CALLER_OVER_SHARE:
        message, message_zh = (
            "this caller has more calls in progress and waiting than its share; retry after the delay given",
            "调用方并发请求超出配额,请按提示的时间后重试",
        )
    elif refusal.reason == CALLER_OVER_RATE:
        message, message_zh = (
            "this caller calls faster than its rate; retry after the delay given",
            "调用方请求频率超出配额,请按提示的时间后重试",
        )
    else:
        message, message_zh = (
            "the service is at its capacity; retry after the delay given",
            "系统繁忙,请按提示的时间后重试",
        )
    return ResourceExhausted(
        refusal.reason,
        message,
        message_zh,
        metadata={"service": service, "retry_after_ms": round(refusal.retry_after * 1000)},
        retry_after=refusal.retry_after,
    )


# What the gate tells the metrics: ("admitted", kind, "immediate" | "queued"), ("shed", kind, reason),
# ("queued", kind, +1 | -1 as text). None: nothing is told.
Observer = Callable[[str, CallerKind, str], None]


class Gate:
    """The asyncio side of one service's admission: `enter` waits for a slot (or raises the refusal),
    `leave` gives it back."""

    def __init__(
        self,
        service: str,
        limits: Limits,
        observe: Observer | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.state = AdmissionState(limits)
        self.rates = RateBook(limits.kind_rates)
        self._clock = clock
        self._waiters: dict[Ticket, asyncio.Future[None]] = {}
        self._observe = observe or (lambda what, kind, label: None)

    async def enter(self, caller: Identity, priority: int, remaining: float | None) -> Ticket:
        wait = self.rates.take(caller, self._clock())
        if wait is not None:
            self._observe("shed", caller.kind, CALLER_OVER_RATE)
            raise refusal_error(Refusal(CALLER_OVER_RATE, wait), self.service)
        outcome, evicted = self.state.offer(caller, priority, remaining)
        if evicted is not None:
            self._refuse_waiting(evicted, Refusal(CALLER_OVER_SHARE, self.state.limits.retry_after))
        if isinstance(outcome, Refusal):
            self._observe("shed", caller.kind, outcome.reason)
            raise refusal_error(outcome, self.service)
        if outcome.granted:
            self._observe("admitted", caller.kind, "immediate")
            return outcome
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[outcome] = waiter
        self._observe("queued", caller.kind, "+1")
        timeout = None if remaining is None else remaining - self.state.limits.deadline_floor
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._leave_queue(outcome)
            self._observe("shed", caller.kind, DEADLINE_TOO_SHORT)
            raise refusal_error(Refusal(DEADLINE_TOO_SHORT, 0.0), self.service) from None
        except BaseException:  # cancelled (the caller went away), or refused to make room for another
            self._leave_queue(outcome)
            raise
        self._observe("admitted", caller.kind, "queued")
        return outcome

    def leave(self, ticket: Ticket) -> None:
        self._start(self.state.release(ticket))

    def _leave_queue(self, ticket: Ticket) -> None:
        if self._waiters.pop(ticket, None) is not None:
            self._observe("queued", ticket.caller.kind, "-1")
        self._start(self.state.withdraw(ticket))

    def _start(self, tickets: list[Ticket]) -> None:
        for ticket in tickets:
            waiter = self._waiters.pop(ticket, None)
            if waiter is None:
                continue
            self._observe("queued", ticket.caller.kind, "-1")
            if waiter.done():  # its call was cancelled just now: the slot goes on
                self._start(self.state.release(ticket))
            else:
                waiter.set_result(None)

    def _refuse_waiting(self, ticket: Ticket, refusal: Refusal) -> None:
        waiter = self._waiters.pop(ticket, None)
        if waiter is None:
            return
        self._observe("queued", ticket.caller.kind, "-1")
        self._observe("shed", ticket.caller.kind, refusal.reason)
        if not waiter.done():
            waiter.set_exception(refusal_error(refusal, self.service))
