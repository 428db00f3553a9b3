"""The load tool's overload report (issue 22, R16, R35; benchmarks/load_flood.py): the polite mix's
answers, shed calls and p50/p99 beside the flood's, in the JSON and the table."""

from __future__ import annotations

from benchmarks import load_flood

POLITE_ALL = {"ok": 80, "errors": {}, "p50_ms": 21.0, "p99_ms": 144.9}


def flood_stats() -> load_flood.FloodStats:
    stats = load_flood.FloodStats(shed=2508)
    for ms in (70, 80, 90, 180):
        stats.latency.record_ns(ms * 1_000_000)
    return stats


def test_the_report_sets_the_polite_caller_beside_the_flood() -> None:
    found = load_flood.report(
        flood_stats(), POLITE_ALL, flood_identity="hospital:h", polite_identity="loadtest:bench", in_flight=60, tls=True
    )
    assert found["polite"] == {
        "identity": "loadtest:bench",
        "answers": 80,
        "shed": 0,
        "errors": {},
        "p50_ms": 21.0,
        "p99_ms": 144.9,
    }
    flood = found["flood"]
    assert (flood["identity"], flood["in_flight"], flood["answers"], flood["shed"]) == ("hospital:h", 60, 4, 2508)
    assert flood["p50_ms"] is not None and 79 < flood["p50_ms"] < 81 and 179 < flood["p99_ms"] < 181
    table = load_flood.format_report(found)
    assert "polite" in table and "flood x60" in table and "2,508" in table and "plaintext" not in table


def test_the_polite_callers_refusals_are_counted_as_shed_and_plaintext_is_said() -> None:
    polite = {**POLITE_ALL, "errors": {"RESOURCE_EXHAUSTED": 3, "UNAVAILABLE": 1}}
    found = load_flood.report(
        load_flood.FloodStats(),
        polite,
        flood_identity="hospital:h",
        polite_identity="loadtest:bench",
        in_flight=8,
        tls=False,
    )
    assert found["polite"]["shed"] == 3 and found["polite"]["errors"] == {"UNAVAILABLE": 1}
    assert found["flood"]["identity"] == "(the development identity)" and found["flood"]["p99_ms"] is None
    assert "plaintext: the flood and the mix are one identity" in load_flood.format_report(found)
