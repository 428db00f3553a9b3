"""The soak's probe decides the rate the machine sustains (issue 23 item 5): calls per second from its
steady part only, scaled by the share of the events written meanwhile that the relays and consumers carried
away; the soak's verdict on the event backlog; and the refills' small steps."""

from __future__ import annotations

import pytest

from benchmarks.load_backlog import BacklogSample
from benchmarks.load_player import REFILL_ON_HAND, REFILL_PEOPLE_IN_FLIGHT, refill_now
from benchmarks.load_soak import backlog_verdict, sustained_rate


def seconds(*calls: int) -> list[dict[str, int]]:
    return [{"second": k, "calls": n, "errors": 0} for k, n in enumerate(calls)]


def test_the_rate_is_taken_from_the_steady_part_only() -> None:
    warming_then_steady = seconds(100, 200, 300, 400, 400, 400)

    decided = sustained_rate(warming_then_steady, [], steady_from=3)

    assert (decided.played, decided.sustained, decided.seconds) == (400, 400, 3)


def test_a_backlog_that_grows_during_the_probe_scales_the_rate_down_by_the_share_carried() -> None:
    backlog = [BacklogSample(1, 1_000, 50), BacklogSample(2, 2_000, 100), BacklogSample(6, 5_000, 1_050)]

    decided = sustained_rate(seconds(*[400] * 7), backlog, steady_from=2)

    # 3,000 events written from second 2 on, 950 more waiting at the end: 2,050 carried of 3,000.
    assert (decided.events_written, decided.backlog_growth) == (3_000, 950)
    assert decided.carried == pytest.approx(2_050 / 3_000)
    assert decided.sustained == pytest.approx(400 * 2_050 / 3_000)


def test_a_backlog_caught_up_during_the_probe_does_not_raise_the_rate_above_what_was_played() -> None:
    backlog = [BacklogSample(2, 2_000, 900), BacklogSample(6, 3_000, 100)]

    decided = sustained_rate(seconds(*[400] * 7), backlog, steady_from=2)

    assert (decided.carried, decided.sustained) == (1.0, 400)


def test_a_backlog_never_written_to_leaves_the_rate_as_played() -> None:
    decided = sustained_rate(seconds(*[300] * 5), [BacklogSample(3, 10, 0), BacklogSample(4, 10, 0)], steady_from=1)

    assert (decided.carried, decided.sustained) == (1.0, 300)


def test_a_probe_without_a_steady_second_is_an_error() -> None:
    with pytest.raises(ValueError, match="steady"):
        sustained_rate(seconds(100, 200), [], steady_from=5)


def minutes_of(waiting_first: int, waiting_last: int) -> list[BacklogSample]:
    """Five minutes sampled every 10 s: the first two minutes at one backlog, the last three at another."""
    return [BacklogSample(t, 100 * t, waiting_first if t < 120 else waiting_last) for t in range(0, 300, 10)]


def test_the_soak_passes_the_backlog_verdict_when_the_backlog_stays_level() -> None:
    verdict = backlog_verdict(minutes_of(120, 300), warmup_seconds=60)

    assert verdict.passed, verdict.text
    assert "kept up" in verdict.text


def test_the_soak_fails_the_backlog_verdict_when_the_backlog_grows() -> None:
    verdict = backlog_verdict(minutes_of(120, 5_000), warmup_seconds=60)

    assert not verdict.passed
    assert "grew" in verdict.text


def test_a_soak_shorter_than_two_measured_minutes_has_no_backlog_verdict() -> None:
    verdict = backlog_verdict(minutes_of(0, 0)[:12], warmup_seconds=0)

    assert not verdict.passed
    assert "no backlog verdict" in verdict.text


def test_a_refill_step_begins_when_those_on_hand_and_on_their_way_are_short_of_the_level() -> None:
    assert refill_now(on_hand=REFILL_ON_HAND - 1, on_their_way=0, chunk=25, steps_in_flight=0)
    assert not refill_now(on_hand=REFILL_ON_HAND - 25, on_their_way=25, chunk=25, steps_in_flight=1)


def test_refill_steps_in_flight_are_bounded_by_the_people_on_their_way() -> None:
    most = REFILL_PEOPLE_IN_FLIGHT // 25

    assert refill_now(on_hand=0, on_their_way=25 * (most - 1), chunk=25, steps_in_flight=most - 1)
    assert not refill_now(on_hand=0, on_their_way=25 * most, chunk=25, steps_in_flight=most)


def test_a_chunk_larger_than_the_people_in_flight_still_refills_one_step_at_a_time() -> None:
    assert refill_now(on_hand=0, on_their_way=0, chunk=REFILL_PEOPLE_IN_FLIGHT * 2, steps_in_flight=0)
    assert not refill_now(on_hand=0, on_their_way=0, chunk=REFILL_PEOPLE_IN_FLIGHT * 2, steps_in_flight=1)
