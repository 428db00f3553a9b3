"""The load tool's plan (issue 12 item 5): the mix, what is played when an operation has nothing to act
on, the open loop's schedule and bounds, and the command line's refusals."""

from __future__ import annotations

import argparse
import itertools
import random
from collections import Counter

import pytest

from benchmarks import load_mix, load_tool
from benchmarks.load_mix import Mix
from services.common.settings import Settings


def test_the_deadline_week_mix_is_dominated_by_checks_and_plays_every_operation() -> None:
    shares = Mix.deadline_week().shares()

    assert set(shares) == set(load_mix.OPERATIONS)
    assert max(shares, key=lambda k: shares[k]) == "check"
    assert sum(shares.values()) == pytest.approx(1.0)


def test_picks_follow_the_weights() -> None:
    mix = Mix.parse("check=3,pay=1")
    rng = random.Random(5)

    picked = Counter(mix.pick(rng.random()) for _ in range(40_000))

    assert set(picked) == {"check", "pay"}
    assert picked["check"] / 40_000 == pytest.approx(0.75, abs=0.01)


def test_pick_maps_the_unit_interval_onto_cumulative_weights() -> None:
    mix = Mix.parse("check=1,order=2,pay=1")

    assert [mix.pick(u) for u in (0.0, 0.2499, 0.25, 0.7499, 0.75, 0.9999)] == [
        "check",
        "check",
        "order",
        "order",
        "pay",
        "pay",
    ]
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        mix.pick(1.0)


def test_an_operation_with_weight_zero_is_never_picked() -> None:
    mix = Mix.parse("check=0,records=5")

    assert {mix.pick(u / 100) for u in range(100)} == {"records"}
    assert mix.shares() == {"records": 1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("check=1,fly=2", "unknown operation 'fly'"),
        ("check", "not operation=weight"),
        ("check=-1", "not operation=weight"),
        ("check=1.5", "not operation=weight"),
        ("check=1,check=2", "given twice"),
        ("check=0", "positive weight"),
        ("", "positive weight"),
    ],
)
def test_a_wrong_mix_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Mix.parse(text)


@pytest.mark.parametrize(
    ("wanted", "possible", "played"),
    [
        ("pay", {"pay", "order"}, "pay"),
        ("pay", {"order"}, "order"),  # nothing ordered yet: order first
        ("pay", set(), "payer_lookup"),  # and nobody left to order for
        ("resend", {"pay", "order"}, "pay"),  # nothing paid yet
        ("late_pay", {"resend", "records"}, "payer_lookup"),
        ("records", set(), "payer_lookup"),
        ("check", set(), "check"),
        ("batch_check", set(), "batch_check"),
    ],
)
def test_an_operation_without_anything_to_act_on_falls_back_down_its_chain(
    wanted: str, possible: set[str], played: str
) -> None:
    assert load_mix.resolve(wanted, possible) == played


def test_every_fallback_chain_ends_at_an_operation_that_is_always_possible() -> None:
    for operation in load_mix.OPERATIONS:
        assert load_mix.resolve(operation, set()) in load_mix.ALWAYS_POSSIBLE


def test_the_open_loop_schedule_is_steady_whatever_the_replies_do() -> None:
    start = 1_000_000_000
    due = [load_mix.due_ns(start, k, 250.0) for k in range(1001)]

    assert due[0] == start
    assert {b - a for a, b in itertools.pairwise(due)} == {4_000_000}
    assert due[1000] == start + 4_000_000_000


@pytest.mark.parametrize(
    ("rate", "seconds", "count", "planned"),
    [
        (100.0, 10.0, None, 1000),
        (100.0, 10.0, 250, 250),  # the count bounds first
        (100.0, 2.0, 5000, 200),  # the time bounds first
        (33.3, 3.0, None, 99),
        (None, 10.0, 70, 70),  # closed loop: only the count is known
        (None, 10.0, None, None),
    ],
)
def test_calls_planned_is_bounded_by_time_and_count(
    rate: float | None, seconds: float, count: int | None, planned: int | None
) -> None:
    assert load_mix.calls_planned(rate, seconds, count) == planned


def test_people_registered_cover_the_orders_the_mix_will_make() -> None:
    mix = Mix.parse("check=88,order=12")

    assert load_tool.people_needed(mix, 100.0, 60.0, None) == int(6000 * 0.12 * 1.2) + 50
    assert load_tool.people_needed(mix, 10_000.0, 600.0, None) == load_tool.MAX_PEOPLE
    assert load_tool.people_needed(Mix.parse("check=1"), 100.0, 60.0, None) == 100


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:50053", True),
        ("127.8.0.1:1", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("10.0.0.7:50053", False),
        ("collection.medins.svc:50053", False),
        ("[2001:db8::1]:50053", False),
    ],
)
def test_only_loopback_addresses_pass_without_allow_remote(address: str, loopback: bool) -> None:
    assert load_tool.is_loopback(address) is loopback


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    load_tool.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--rate", "0"), "--rate must be positive"),
        (("--duration", "-5"), "--duration must be positive"),
        (("--batch-size", "1001"), "at most 1000"),
        (("--mix", "check=1,fly=1"), "--mix: unknown operation"),
        (("--overload", "--soak"), "two different runs"),
        (("--overload", "--flood-in-flight", "0"), "--flood-in-flight must be positive"),
    ],
)
def test_a_mistake_on_the_command_line_is_a_usage_error(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(load_tool.UsageError, match=message):
        load_tool.check_numbers(parse(*argv))


def test_a_remote_address_needs_allow_remote() -> None:
    args = parse("--collection", "10.1.2.3:50053")

    with pytest.raises(load_tool.UsageError, match="not a loopback address"):
        load_tool.addresses(args, Settings())
    assert load_tool.addresses(parse("--collection", "10.1.2.3:50053", "--allow-remote"), Settings())


def test_the_usage_error_is_one_line_and_exit_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert load_tool.run(parse("--count", "0")) == 2

    err = capsys.readouterr().err
    assert err == "medins load: --count must be positive\n"


def test_open_and_closed_loop_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse("--rate", "5", "--concurrency", "2")
