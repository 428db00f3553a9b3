"""`make bench` judges issue 23's targets (R16, R21): the payment path against raw PostgreSQL, coverage
against the applied rate, the latencies against their bounds; the earlier issues' ratios stay beside them."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import bench


def _payments(raw: float, shape: float, applied: float, bulk: float | None, half_p99: float) -> dict[str, Any]:
    phase = {"latency": {"p99_ms": 1.0}}
    return {
        "phases": {
            "b_raw_writes": {**phase, "calls_per_second": raw},
            "c_same_shape": {**phase, "calls_per_second": shape},
            "d_notify_applied": {**phase, "calls_per_second": applied},
            "e_notify_replayed": {**phase, "calls_per_second": 2 * applied},
            "f_notify_bulk": {"notifications_per_second": bulk, "implemented": bulk is not None},
            "g_notify_applied_half_rate": {"calls_per_second": applied / 2, "latency": {"p99_ms": half_p99}},
        }
    }


def _verdicts(found: list[bench.Ratio]) -> dict[tuple[str, str], str]:
    return {(r.what, r.ceiling_name): r.verdict for r in found}


@pytest.mark.parametrize(
    ("applied", "bulk", "covered", "expected"),
    [
        # 39% / 59% / 79%: each just under issue 23's bound.
        (390.0, 590.0, 0.79 * 390, ("**FAIL**", "**FAIL**", "**FAIL**")),
        (400.0, 600.0, 0.8 * 400, ("**pass**", "**pass**", "**pass**")),
    ],
)
def test_issue_23s_ratios_are_judged_against_raw_postgresql_and_the_applied_rate(
    applied: float, bulk: float, covered: float, expected: tuple[str, str, str]
) -> None:
    found = _verdicts(
        bench.ratios(_payments(1_000.0, 400.0, applied, bulk, 20.0), {"covered_per_second": covered}, None)
    )
    assert (
        found[("NotifyPayment applied (d)", "raw PostgreSQL (b)")],
        found[("NotifyPayments, notifications/s (f)", "raw PostgreSQL (b)")],
        found[("notification → coverage granted (end to end)", "NotifyPayment applied (d)")],
    ) == expected


def test_the_earlier_ratios_stay_judged_and_a_missing_bulk_rpc_says_so() -> None:
    found = _verdicts(bench.ratios(_payments(1_000.0, 400.0, 300.0, None, 20.0), {"covered_per_second": 100.0}, None))
    assert found[("NotifyPayment applied (d)", "same-shape ceiling (c)")] == "**FAIL**"  # 75% < 80%
    assert found[("notification → coverage granted (end to end)", "same-shape (c)")] == "**FAIL**"  # 25% < 60%
    assert found[("NotifyPayments, notifications/s (f)", "raw PostgreSQL (b)")] == "not implemented"


@pytest.mark.parametrize(("p99", "verdict"), [(49.9, "**pass**"), (50.0, "**FAIL**")])
def test_notify_payments_half_rate_p99_is_judged_against_50_ms(p99: float, verdict: str) -> None:
    (line,) = bench.latency_lines(_payments(1_000.0, 400.0, 300.0, None, p99), None)[:1]
    assert f"p99 {p99} ms (target < 50 ms: {verdict})" in line


def test_the_checks_latencies_are_judged_against_5_10_and_50_ms() -> None:
    check = {
        "settings": {"rate": 1_000, "rows": 1_000_000},
        "phases": {
            "check_open": {"latency": {"p99_ms": 4.9}},
            "check_open_with_writes": {"latency": {"p99_ms": 10.0}},
            "batch_check_c1": {"latency": {"p99_ms": 86.3}},
        },
    }
    (line,) = [x for x in bench.latency_lines(_payments(1_000.0, 400.0, 300.0, 900.0, 20.0), check) if "Check" in x]
    assert "p99 4.9 ms (target < 5 ms: **pass**)" in line
    assert "p99 10.0 ms (< 10 ms: **FAIL**)" in line
    assert "p99 86.3 ms (< 50 ms: **FAIL**)" in line
