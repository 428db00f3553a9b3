"""Per-caller rate quotas (issue 22 item 2, R16, R35): a token bucket per caller identity for the kinds
given a rate; one caller over its rate is refused with the time to its next call, and nobody else is."""

from __future__ import annotations

import pytest

from services.common.admission import Gate, Limits
from services.common.call_rates import CALLER_OVER_RATE, Rate, RateBook
from services.common.errors import ResourceExhausted
from services.common.identity import CallerKind, Identity
from services.common.settings import Settings

FLOOD = Identity(CallerKind.HOSPITAL, "flood")
POLITE = Identity(CallerKind.HOSPITAL, "polite")
CHANNEL = Identity(CallerKind.CHANNEL, "wechat")
TEN_A_SECOND = {CallerKind.HOSPITAL: Rate(per_second=10, burst=3)}


def test_a_burst_is_taken_then_the_caller_waits_for_its_next_token() -> None:
    book = RateBook(TEN_A_SECOND)
    assert [book.take(FLOOD, 0.0) for _ in range(3)] == [None, None, None]
    assert book.take(FLOOD, 0.0) == pytest.approx(0.1)
    assert book.take(FLOOD, 0.05) == pytest.approx(0.05)  # half a token back
    assert book.take(FLOOD, 0.1) is None
    assert book.take(FLOOD, 0.1) == pytest.approx(0.1)


def test_one_caller_over_its_rate_never_costs_another_caller_of_the_same_kind() -> None:
    book = RateBook(TEN_A_SECOND)
    refused = [book.take(FLOOD, 0.0) for _ in range(100)]
    assert refused.count(None) == 3
    assert [book.take(POLITE, 0.0) for _ in range(3)] == [None, None, None]


def test_a_kind_without_a_rate_is_never_refused_and_never_kept() -> None:
    book = RateBook(TEN_A_SECOND)
    assert all(book.take(CHANNEL, 0.0) is None for _ in range(1000))
    assert len(book) == 0


def test_the_book_stays_bounded_and_forgets_buckets_that_refilled() -> None:
    book = RateBook(TEN_A_SECOND, capacity=10)
    for n in range(100):
        assert book.take(Identity(CallerKind.HOSPITAL, f"h{n}"), float(n)) is None
        assert len(book) <= 10


def test_a_rate_needs_a_positive_pace_and_a_burst() -> None:
    with pytest.raises(ValueError):
        Rate(per_second=0, burst=1)
    with pytest.raises(ValueError):
        Rate(per_second=1, burst=0)


async def test_the_gate_refuses_a_caller_over_its_rate_with_the_time_to_its_next_call() -> None:
    now = [0.0]
    gate = Gate("s", Limits(kind_rates={CallerKind.HOSPITAL: Rate(per_second=2, burst=1)}), clock=lambda: now[0])
    gate.leave(await gate.enter(FLOOD, 0, None))
    with pytest.raises(ResourceExhausted) as refused:
        await gate.enter(FLOOD, 0, None)
    assert refused.value.reason == CALLER_OVER_RATE
    assert refused.value.retry_after == pytest.approx(0.5)
    gate.leave(await gate.enter(POLITE, 0, None))  # the same kind, its own bucket
    now[0] = 0.5
    gate.leave(await gate.enter(FLOOD, 0, None))
    assert gate.state.in_flight == 0


def test_settings_give_kinds_their_rates() -> None:
    limits = Settings(admission_kind_rates={"hospital": (200, 400)}).admission_limits
    assert limits is not None and limits.kind_rates == {CallerKind.HOSPITAL: Rate(200, 400)}
    with pytest.raises(ValueError, match="unknown caller kind"):
        Settings(admission_kind_rates={"martian": (1, 1)})
    with pytest.raises(ValueError, match="calls_per_second > 0"):
        Settings(admission_kind_rates={"hospital": (0, 1)})
