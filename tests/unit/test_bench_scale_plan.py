"""bench-scale's options and plan (issue 23 item 6): sizes grow, the sweep runs at the last size only,
and every step of the run is in the estimate printed at the start."""

from __future__ import annotations

import pytest

from benchmarks import bench_scale


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
