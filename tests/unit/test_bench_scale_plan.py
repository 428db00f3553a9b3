"""bench-scale's options and plan (issue 23 item 6): sizes grow, the sweep runs at the last size only,
and every step of the run is in the estimate printed at the start."""

from __future__ import annotations

import pytest

from benchmarks import bench_scale, payments_load


def test_sizes_take_scientific_notation_and_the_sweep_runs_at_the_last_size_only() -> None:
    options = bench_scale.parse_options(["--sizes", "1e6,1e7"])
    assert options.sizes == (1_000_000, 10_000_000)
    steps = dict(bench_scale.plan(options))
    assert "payments: 3 phases at 1,000,000 items" in steps
    assert "payments: 12 phases at 10,000,000 items" in steps  # b, c, d at 1, 8, 32, 128 in flight
    assert "check: load people 1,000,000..10,000,000" in steps  # grown, not loaded twice


@pytest.mark.parametrize("sizes", ["1e7,1e6", "5000,5000", "0,10", "many"])
def test_sizes_that_cannot_grow_are_refused_without_a_traceback(sizes: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_scale.parse_options(["--sizes", sizes])
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_skipped_part_is_left_out_of_the_plan() -> None:
    steps = [name for name, _ in bench_scale.plan(bench_scale.parse_options(["--quick", "--skip-payments"]))]
    assert steps and all(name.startswith("check:") for name in steps)


@pytest.mark.parametrize(
    "argv", [["--quick"], ["--sizes", "2000,5000", "--concurrencies", "1,8", "--duration", "1.5"], []]
)
def test_the_default_orders_pay_every_c_and_d_phase_of_the_plan_at_the_fastest_rate_seen(argv: list[str]) -> None:
    options = bench_scale.parse_options(argv)
    phase = options.warmup + options.duration
    rows = sum(
        int(name.split()[1]) // 3
        for name, _ in bench_scale.plan(options)
        if name.startswith("payments:") and "phases" in name
    )
    assert rows == len(options.sizes) - 1 + len({*options.concurrencies, options.concurrency})
    assert options.orders >= 2 * rows * phase * bench_scale.MOST_PAYMENTS_PER_SECOND


def test_orders_running_out_stops_the_run_with_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def runs_out(*_: object) -> None:
        raise payments_load.OrdersRanOut(
            "the 3,000 orders seeded ran out at 5,000 items, 8 in flight: give --orders more"
        )

    monkeypatch.setattr(bench_scale, "run", runs_out)
    with pytest.raises(SystemExit) as exit_:
        bench_scale.main(["--quick", "--skip-check"])
    assert exit_.value.code == 1
    out = capsys.readouterr()
    assert "give --orders more" in out.out + out.err
    assert "Traceback" not in out.out + out.err
