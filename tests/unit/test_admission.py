"""Admission control (issue 22): the pure bookkeeping of services/common/admission.py, then its asyncio
gate, without any server."""

from __future__ import annotations

import asyncio

import pytest
from google.rpc import error_details_pb2, status_pb2

from services.common.admission import (
    CALLER_OVER_SHARE,
    DEADLINE_TOO_SHORT,
    OVERLOADED,
    AdmissionState,
    Gate,
    Limits,
    Refusal,
    Share,
    Ticket,
)
from services.common.errors import DeadlineExceeded, ResourceExhausted
from services.common.grpc_errors import to_grpc_status
from services.common.identity import CallerKind, Identity
from services.common.settings import Settings

A = Identity(CallerKind.HOSPITAL, "flood")
B = Identity(CallerKind.HOSPITAL, "polite")
C = Identity(CallerKind.CHANNEL, "wechat")


def granted(outcome: tuple[Ticket | Refusal, Ticket | None]) -> Ticket:
    ticket, evicted = outcome
    assert isinstance(ticket, Ticket) and ticket.granted and evicted is None
    return ticket


def waiting(outcome: tuple[Ticket | Refusal, Ticket | None]) -> Ticket:
    ticket, _ = outcome
    assert isinstance(ticket, Ticket) and not ticket.granted
    return ticket


def test_a_caller_with_one_waiting_is_served_before_one_with_512() -> None:
    state = AdmissionState(Limits(max_in_flight=4, max_queued=1024, share=Share(4, 600)))
    running = [granted(state.offer(A)) for _ in range(4)]
    flood = [waiting(state.offer(A)) for _ in range(512)]
    polite = waiting(state.offer(B))
    assert state.release(running[0]) == [polite]
    # ... and then the flood, oldest first.
    assert state.release(running[1]) == [flood[0]]


def test_a_caller_at_its_share_waits_while_the_service_has_room_for_others() -> None:
    state = AdmissionState(Limits(max_in_flight=8, max_queued=100, share=Share(2, 10)))
    a1, _ = granted(state.offer(A)), granted(state.offer(A))
    third = waiting(state.offer(A))
    granted(state.offer(B))  # B is under its share: it starts at once
    assert state.release(a1) == [third]


def test_a_caller_over_its_share_is_refused_with_a_retry_delay() -> None:
    state = AdmissionState(Limits(max_in_flight=8, max_queued=100, share=Share(1, 2), retry_after=0.1))
    granted(state.offer(A))
    waiting(state.offer(A))
    waiting(state.offer(A))
    refusal, evicted = state.offer(A)
    assert isinstance(refusal, Refusal) and evicted is None
    assert refusal.reason == CALLER_OVER_SHARE and refusal.retry_after >= 0.1
    granted(state.offer(B))  # another caller is not refused because A is over


def test_a_full_service_makes_room_for_a_caller_under_its_share() -> None:
    state = AdmissionState(Limits(max_in_flight=1, max_queued=3, share=Share(1, 10)))
    granted(state.offer(A))
    flood = [waiting(state.offer(A)) for _ in range(3)]
    ticket, evicted = state.offer(B)
    assert isinstance(ticket, Ticket) and not ticket.granted
    assert evicted is flood[-1]  # the flood's newest call gives B its place
    assert state.queued == 3 and state.waiting_of(A) == 2


def test_the_bound_is_reached_when_nobody_waits_more_than_the_newcomer() -> None:
    state = AdmissionState(Limits(max_in_flight=1, max_queued=2, share=Share(1, 10), retry_after=0.25))
    granted(state.offer(A))
    waiting(state.offer(B))
    waiting(state.offer(C))
    refusal, evicted = state.offer(A)
    assert refusal == Refusal(OVERLOADED, 0.25) and evicted is None


def test_a_call_whose_deadline_is_too_short_is_not_started() -> None:
    state = AdmissionState(Limits(deadline_floor=0.002))
    assert state.offer(A, remaining=0.001)[0] == Refusal(DEADLINE_TOO_SHORT, 0.0)
    assert state.offer(A, remaining=-1.0)[0] == Refusal(DEADLINE_TOO_SHORT, 0.0)
    assert state.in_flight == 0 and state.queued == 0
    granted(state.offer(A, remaining=1.0))


def test_a_withdrawn_call_leaves_the_queue() -> None:
    state = AdmissionState(Limits(max_in_flight=1, max_queued=10, share=Share(1, 10)))
    running = granted(state.offer(A))
    gone = waiting(state.offer(B))
    stays = waiting(state.offer(C))
    assert state.withdraw(gone) == []
    assert state.queued == 1 and state.waiting_of(B) == 0
    assert state.release(running) == [stays]


def test_a_higher_priority_starts_first() -> None:
    state = AdmissionState(Limits(max_in_flight=1, max_queued=10, share=Share(1, 10)))
    running = granted(state.offer(A))
    batch = waiting(state.offer(B, priority=0))
    check = waiting(state.offer(C, priority=1))
    assert state.release(running) == [check]
    assert state.release(check) == [batch]


def test_released_twice_counts_once() -> None:
    state = AdmissionState(Limits(max_in_flight=2))
    ticket = granted(state.offer(A))
    state.release(ticket)
    state.withdraw(ticket)
    assert state.in_flight == 0


def test_the_refusal_carries_retry_info_and_our_error_info() -> None:
    state = AdmissionState(Limits(max_in_flight=1, share=Share(1, 0), retry_after=0.3))
    granted(state.offer(A))
    gate = Gate("medins.x.v1.X", state.limits)
    gate.state = state
    with pytest.raises(ResourceExhausted) as raised:
        asyncio.run(gate.enter(A, 0, None))
    details = to_grpc_status(raised.value)
    assert details.code.name == "RESOURCE_EXHAUSTED"
    proto = dict(details.trailing_metadata)["grpc-status-details-bin"]
    parsed = status_pb2.Status.FromString(proto)
    kinds = {}
    for detail in parsed.details:
        for message in (error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()):
            if detail.Is(message.DESCRIPTOR):
                detail.Unpack(message)
                kinds[type(message).__name__] = message
    assert kinds["ErrorInfo"].reason == CALLER_OVER_SHARE
    assert kinds["RetryInfo"].retry_delay.ToTimedelta().total_seconds() >= 0.3


async def test_the_gate_starts_a_waiting_call_when_a_slot_frees() -> None:
    gate = Gate("s", Limits(max_in_flight=1, share=Share(1, 10)))
    first = await gate.enter(A, 0, None)
    second = asyncio.create_task(gate.enter(B, 0, None))
    await asyncio.sleep(0)
    assert not second.done() and gate.state.queued == 1
    gate.leave(first)
    ticket = await asyncio.wait_for(second, 5)
    assert ticket.granted and gate.state.in_flight == 1


async def test_a_cancelled_waiting_call_leaves_the_queue_and_frees_nothing_twice() -> None:
    gate = Gate("s", Limits(max_in_flight=1, share=Share(1, 10)))
    first = await gate.enter(A, 0, None)
    cancelled = asyncio.create_task(gate.enter(B, 0, None))
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert gate.state.queued == 0
    gate.leave(first)
    assert gate.state.in_flight == 0


async def test_a_call_cancelled_as_its_slot_is_granted_gives_the_slot_on() -> None:
    gate = Gate("s", Limits(max_in_flight=1, share=Share(1, 10)))
    first = await gate.enter(A, 0, None)
    cancelled = asyncio.create_task(gate.enter(B, 0, None))
    await asyncio.sleep(0)
    gate.leave(first)  # grants B's ticket ...
    cancelled.cancel()  # ... whose call goes away before it runs
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert gate.state.in_flight == 0 and gate.state.queued == 0


async def test_a_waiting_call_whose_deadline_nears_is_not_started() -> None:
    gate = Gate("s", Limits(max_in_flight=1, share=Share(1, 10), deadline_floor=0.002))
    await gate.enter(A, 0, None)
    with pytest.raises(DeadlineExceeded):
        await gate.enter(B, 0, 0.01)
    assert gate.state.queued == 0 and gate.state.in_flight == 1


async def test_an_evicted_waiting_call_is_refused_over_share() -> None:
    gate = Gate("s", Limits(max_in_flight=1, max_queued=2, share=Share(1, 10)))
    await gate.enter(A, 0, None)
    flood = [asyncio.create_task(gate.enter(A, 0, None)) for _ in range(2)]
    await asyncio.sleep(0)
    polite = asyncio.create_task(gate.enter(B, 0, None))
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhausted) as raised:
        await flood[1]
    assert raised.value.reason == CALLER_OVER_SHARE
    assert not polite.done() and gate.state.waiting_of(B) == 1
    for task in (flood[0], polite):
        task.cancel()
    await asyncio.gather(flood[0], polite, return_exceptions=True)


def test_settings_give_kinds_their_shares() -> None:
    limits = Settings(admission_kind_shares={"hospital": (4, 8)}).admission_limits
    assert limits is not None
    assert limits.share_of(CallerKind.HOSPITAL) == Share(4, 8)
    assert limits.share_of(CallerKind.LOCAL) == Share(limits.max_in_flight, limits.max_queued)
    assert limits.share_of(CallerKind.CHANNEL) == limits.share
    assert Settings(admission_enabled=False).admission_limits is None
    with pytest.raises(ValueError, match="unknown caller kind"):
        Settings(admission_kind_shares={"martian": (1, 1)})
