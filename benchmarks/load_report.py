"""The load tool's report: the figures of a run (a table per operation, percentiles, the timeline), the
invariants audit (ops/audit.py) once the events have settled, and under --out a JSON file of everything
and a PNG of latency over time and the percentiles."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import load_mix
from benchmarks.load_player import Player
from benchmarks.load_world import say
from ops import audit
from ops import audit_checks as checks
from services.common.settings import Settings

PERCENTILES = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99, 100.0)


def figures(player: Player, seconds: float) -> dict[str, Any]:
    rows = load_mix.summary_rows(player.stats, seconds)
    return {
        "operations": [r.as_dict() for r in rows],
        "percentiles": {
            name: {f"{q:g}": player.stats[name].latency.percentile_us(q) / 1000 for q in PERCENTILES}
            for name in load_mix.OPERATIONS
            if name in player.stats and player.stats[name].ok
        },
        "substituted": dict(player.substituted.most_common()),
        "people_registered_during_the_load": player.world.refilled,
        "refill_errors": dict(player.world.refill_errors),
        "refills": [{"began": b, "registered": r, "assessed": a, "people": n} for b, r, a, n in player.world.refills],
        "timeline": player.timeline.rows,
    }


async def audit_when_settled(settings: Settings, wait_seconds: float) -> dict[str, Any]:
    """The invariants audit, repeated until clean or `wait_seconds` pass: just after the load, events
    are still on their way (payment.confirmed to the coverage worker), which is not a violation."""
    say(f"auditing the invariants (events may take up to {wait_seconds:g} s to settle)")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            snapshot = await audit.read_snapshot(settings)
        except audit.Unreachable as exc:
            return {"clean": False, "violations": None, "table": f"audit not run: {exc}\n"}
        results = checks.run_checks(snapshot, outbox_threshold_seconds=60.0, allow_explained_dead_letters=False)
        violations = sum(len(r.violations) for r in results)
        if violations == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)  # events in flight; the audit is read again
    table = io.StringIO()
    audit.print_table(results, audit.EXAMPLES, table)
    return {"clean": violations == 0, "violations": violations, "table": table.getvalue()}


def show(results: dict[str, Any]) -> None:
    """The table per operation, and what was played instead or registered on the way."""
    sys.stdout.write(load_mix.format_table([load_mix.Row(**r) for r in results["operations"]]))
    if results["substituted"]:
        sys.stdout.write(
            "played instead (nothing to act on yet): "
            + ", ".join(f"{k} {v:,}" for k, v in results["substituted"].items())
            + "\n"
        )
    if results["people_registered_during_the_load"]:
        sys.stdout.write(f"registered during the load: {results['people_registered_during_the_load']:,} residents\n")


def show_audit(results: dict[str, Any]) -> None:
    """The audit's table and the soak's verdicts."""
    sys.stdout.write(results["audit"]["table"])
    for verdict in results.get("verdicts", []):
        sys.stdout.write(("PASS " if verdict["passed"] else "FAIL ") + verdict["text"] + "\n")


def write_outputs(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    plot(out / "latency.png", results)


def plot(path: Path, results: dict[str, Any]) -> None:
    """Latency over time (per second: p50, p99, max; calls per second on the right) and the percentile
    curve of each operation."""
    import matplotlib  # noqa: PLC0415 - loaded only when plotting, with the file-only backend

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import ScalarFormatter  # noqa: PLC0415

    fig, (over_time, curves) = plt.subplots(2, 1, figsize=(11, 9))
    timeline = [t for t in results["timeline"] if "p50_ms" in t]
    seconds = [t["second"] for t in timeline]
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
        over_time.plot(seconds, [t[key] for t in timeline], label=label, linewidth=1)
    over_time.set_yscale("log")
    over_time.set_xlabel("seconds since start")
    over_time.set_ylabel("latency per second (ms)")
    over_time.set_title(f"{results.get('loop', '')}: latency over time, all operations")
    rate_axis = over_time.twinx()
    rate_axis.plot(
        [t["second"] for t in results["timeline"]],
        [t["calls"] for t in results["timeline"]],
        color="grey",
        alpha=0.4,
        label="calls/s",
    )
    rate_axis.set_ylabel("calls per second")
    rate_axis.set_ylim(bottom=0)
    over_time.legend(loc="upper left")
    for name, values in results["percentiles"].items():
        qs = [float(q) for q in values if float(q) < 100]
        curves.plot([1 / (1 - q / 100) for q in qs], [values[f"{q:g}"] for q in qs], marker="o", label=name)
    curves.set_xscale("log")
    curves.set_yscale("log")
    curves.set_xticks([1 / (1 - q / 100) for q in PERCENTILES[:-1]], [f"p{q:g}" for q in PERCENTILES[:-1]])
    curves.set_xlabel("percentile")
    curves.set_ylabel("latency (ms)")
    curves.set_title("latency by percentile, per operation")
    curves.legend(fontsize="small")
    for axis in (over_time, curves):
        axis.yaxis.set_major_formatter(ScalarFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
