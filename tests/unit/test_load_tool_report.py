"""What the load tool reports (issue 12 items 5 and 6): the per-operation table from HdrHistograms,
per-second percentiles, the live line, and the soak's verdicts on memory and latency drift."""

from __future__ import annotations

import pytest

from benchmarks import load_mix
from benchmarks.load_mix import OperationStats

MIB = 2**20


def stats(latencies_ms: list[float], **errors: int) -> OperationStats:
    found = OperationStats()
    for ms in latencies_ms:
        found.latency.record_ns(int(ms * 1_000_000))
    found.errors.update(errors)
    return found


def test_rows_count_every_call_and_take_percentiles_of_the_successful_ones() -> None:
    played = {
        "pay": stats([float(ms) for ms in range(1, 101)], UNAVAILABLE=3, WRONG_ANSWER=1),
        "check": stats([2.0] * 50),
    }

    rows = {r.operation: r for r in load_mix.summary_rows(played, seconds=10.0)}

    assert list(rows) == ["check", "pay", "all"]  # the mix's order, then the total
    pay = rows["pay"]
    assert (pay.calls, pay.ok, pay.errors) == (104, 100, {"UNAVAILABLE": 3, "WRONG_ANSWER": 1})
    assert pay.per_second == 10.4
    assert (pay.p50_ms, pay.p90_ms, pay.p99_ms, pay.max_ms) == pytest.approx((50, 90, 99, 100), rel=1e-3)
    total = rows["all"]
    assert (total.calls, total.ok, total.errors) == (154, 150, {"UNAVAILABLE": 3, "WRONG_ANSWER": 1})
    assert (total.p50_ms, total.max_ms) == pytest.approx((25, 100), rel=1e-3)  # 75th of 150 values


def test_an_operation_with_only_failures_has_a_row_without_latencies() -> None:
    rows = load_mix.summary_rows({"order": stats([], DEADLINE_EXCEEDED=2)}, seconds=1.0)

    assert rows[0].operation == "order" and rows[0].calls == 2 and rows[0].p99_ms is None
    assert "-" in load_mix.format_table(rows).splitlines()[1]


def test_operations_not_played_have_no_row_and_nothing_played_gives_no_rows() -> None:
    assert load_mix.summary_rows({"pay": OperationStats()}, seconds=1.0) == []


def test_the_table_has_a_header_and_one_aligned_line_per_row() -> None:
    rows = load_mix.summary_rows({"check": stats([1.5, 2.5]), "pay": stats([10.0], UNAVAILABLE=1)}, seconds=2.0)

    lines = load_mix.format_table(rows).splitlines()

    assert lines[0].split() == ["operation", "calls", "errors", "calls/s", "p50", "p90", "p99", "p99.9", "max"]
    assert [line.split()[0] for line in lines[1:]] == ["check", "pay", "all"]
    assert "UNAVAILABLE 1" in lines[2]
    assert len({len(line) for line in lines[1:]}) <= 2  # right-aligned numbers end in the same column
    assert lines[1].endswith("2.50") and lines[2].endswith("10.01")  # 3 significant digits


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 11)]

    assert [load_mix.percentile(values, q) for q in (0, 10, 50, 90, 99, 100)] == [1, 1, 5, 9, 10, 10]
    with pytest.raises(ValueError, match="no values"):
        load_mix.percentile([], 50)


def test_the_progress_line_is_one_line() -> None:
    line = load_mix.progress_line(elapsed=12.2, seconds=60, calls=2345, errors=1, rate=198, p99_ms=12.34, in_flight=4)

    assert "\n" not in line
    assert line == "   12/60 s  calls 2,345  errors 1  last second 198/s  p99 12.3 ms  in flight 4"


def samples(*mib: float, every: float = 10.0) -> list[tuple[float, int]]:
    return [(k * every, int(m * MIB)) for k, m in enumerate(mib)]


def test_memory_growing_during_the_warm_up_only_is_flat() -> None:
    verdict = load_mix.memory_verdict({"collection": samples(50, 80, 100, 101, 99, 104)}, warmup_seconds=20)

    assert verdict.passed, verdict.text
    assert "collection 100->104 MiB" in verdict.text


def test_memory_growing_by_more_than_ten_percent_after_the_warm_up_fails_and_names_the_process() -> None:
    verdict = load_mix.memory_verdict(
        {"collection": samples(100, 100, 101), "coverage": samples(60, 62, 65, 67, 70)}, warmup_seconds=10
    )

    assert not verdict.passed
    assert "coverage" in verdict.text and "collection" not in verdict.text


def test_memory_shrinking_by_more_than_ten_percent_also_fails() -> None:
    assert not load_mix.memory_verdict({"relay": samples(100, 100, 85)}, warmup_seconds=0).passed


def test_a_process_with_too_few_samples_after_the_warm_up_fails() -> None:
    verdict = load_mix.memory_verdict({"relay": samples(100, 100)}, warmup_seconds=10)

    assert not verdict.passed and "too few samples" in verdict.text
    assert not load_mix.memory_verdict({}, warmup_seconds=0).passed


@pytest.mark.parametrize(
    ("p99s", "passed"),
    [
        ([10.0, 11.0, 12.0, 12.4], True),  # within 25%
        ([10.0, 9.0, 13.0], False),  # 30% worse
        ([2.0, 3.5, 3.9], True),  # within the 2 ms slack
        ([2.0, 4.5], False),
        ([None, 10.0, None, 10.0, None], True),  # minutes without calls are left out
        ([20.0, 8.0], True),  # getting faster is not drift
    ],
)
def test_latency_drift_compares_the_first_and_the_last_minute(p99s: list[float | None], passed: bool) -> None:
    assert load_mix.drift_verdict(p99s).passed is passed


def test_no_drift_verdict_without_two_minutes() -> None:
    verdict = load_mix.drift_verdict([None, 4.0])

    assert not verdict.passed and "fewer than two minutes" in verdict.text


def test_the_timeline_closes_only_finished_seconds_and_keeps_errors_apart() -> None:
    timeline = load_mix.Timeline()
    for us in (1000, 2000, 3000, 4000):
        timeline.record(0, us)
    timeline.record_error(0)
    timeline.record(1, 9000)
    timeline.record_error(2)

    last = timeline.close(before=1)

    assert last == {"second": 0, "calls": 5, "errors": 1, "p50_ms": 2.0, "p99_ms": 4.0, "max_ms": 4.0}
    assert timeline.close(before=1) is None  # nothing new has finished
    timeline.close(before=3)
    assert timeline.rows[1:] == [
        {"second": 1, "calls": 1, "errors": 0, "p50_ms": 9.0, "p99_ms": 9.0, "max_ms": 9.0},
        {"second": 2, "calls": 1, "errors": 1},  # only failures: no latencies
    ]
