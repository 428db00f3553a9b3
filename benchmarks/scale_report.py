"""How `make bench-scale` (benchmarks/bench_scale.py) shows its figures: its section of docs/BENCHMARKS.md
and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import report

START_MARKER, END_MARKER = "<!-- bench-scale:start -->", "<!-- bench-scale:end -->"


def _rate(phase: dict[str, Any] | None) -> float:
    return float(phase["calls_per_second"]) if phase else 0.0


def _p(phase: dict[str, Any], key: str) -> str:
    value = phase["latency"].get(key)
    return "-" if value is None else f"{value:.2f}"


def _share(real: float, ceiling: float) -> str:
    return f"{real / ceiling:.0%}" if ceiling else "-"


def markdown(results: dict[str, Any], plot_link: str) -> str:
    o = results["options"]
    lines = [
        START_MARKER,
        "## How cost grows (`make bench-scale`)",
        "",
        f"Run {results['started_at']} with `{results['command']}` ({results['seconds']:.0f} s in all). "
        f"{o['duration']:g} s measured per phase after {o['warmup']:g} s of warm-up; calls per second; latencies "
        "in ms; every ratio is to a ceiling measured in the same run.",
        "",
        report.machine_line(results["machine"]),
        "",
        *(f"The {part} tables are from the run of {run}." for part, run in results.get("borrowed", {}).items()),
        *([""] if results.get("borrowed") else []),
    ]
    if results.get("check"):
        lines += [
            "### The check against people loaded",
            "",
            f"The same database grown from one size to the next (keys and indexes rebuilt over all rows each time); "
            f"closed loops of {o['concurrency']} in flight; (d) the open loop at half of (c)'s rate.",
            "",
            "| people | load (s) | a2 bare SELECT | c CheckEnrollment | c / a2 | d rate | d p50 | d p99 | d p99.9 "
            "| errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in results["check"]:
            a2, c, d = r["a2_select"], r["c_check"], r["d_open_half"]
            errors = a2["errors"] + c["errors"] + d["errors"]
            lines.append(
                f"| {r['people']:,} | {r['load']['total_seconds']:.0f} | {_rate(a2):,.0f} | {_rate(c):,.0f} "
                f"| {_share(_rate(c), _rate(a2))} | {_rate(d):,.0f} | {_p(d, 'p50_ms')} | {_p(d, 'p99_ms')} "
                f"| {_p(d, 'p99_9_ms')} | {errors} |"
            )
        lines.append("")
    if results.get("payments"):
        rows = results["payments"]["rows"]
        at_usual = [r for r in rows if r["concurrency"] == o["concurrency"]]
        lines += [
            "### Payments against payable items already in the tax database",
            "",
            "Background items made by PostgreSQL (benchmarks/tax_volume.py): three benefit years per insured person, "
            "valid resident IDs, statuses mixed by year; the payments of the background PAID items are not written. "
            f"Closed loops of {o['concurrency']} in flight.",
            "",
            "| payable items | fill (s) | b raw PostgreSQL | c same shape | d NotifyPayment applied | d / c | d / b "
            "| d p50 | d p99 |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in at_usual:
            b, c, d = _rate(r["b_raw"]), _rate(r["c_same_shape"]), _rate(r["d_applied"])
            fill = next(x["fill"] for x in rows if x["items"] == r["items"] and x["fill"])
            lines.append(
                f"| {r['items']:,} | {fill['total_seconds']:.0f} | {b:,.0f} | {c:,.0f} | {d:,.0f} | {_share(d, c)} "
                f"| {_share(d, b)} | {_p(r['d_applied'], 'p50_ms')} | {_p(r['d_applied'], 'p99_ms')} |"
            )
        last = max(r["items"] for r in rows)
        lines += [
            "",
            f"### Throughput against calls in flight ({last:,} payable items)",
            "",
            f"The raw baseline (b) holds one connection per call in flight up to {o['raw_connections']}; beyond, the "
            f"calls wait for one of {o['raw_connections']} (PostgreSQL's max_connections is 100, so one connection "
            "per call could not be measured at 128). The collection service uses its own pool "
            "(MEDINS_DB_POOL_MAX) at every level.",
            "",
            "| in flight | b raw (connections) | c same shape | d applied | d / c | d / b | d p50 | d p99 | errors |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in (r for r in rows if r["items"] == last):
            b, c, d = _rate(r["b_raw"]), _rate(r["c_same_shape"]), _rate(r["d_applied"])
            errors = r["b_raw"]["errors"] + r["c_same_shape"]["errors"] + r["d_applied"]["errors"]
            lines.append(
                f"| {r['concurrency']} | {b:,.0f} ({r['raw_connections']}) | {c:,.0f} | {d:,.0f} | {_share(d, c)} "
                f"| {_share(d, b)} | {_p(r['d_applied'], 'p50_ms')} | {_p(r['d_applied'], 'p99_ms')} | {errors} |"
            )
        relay = results["payments"]["relay"]
        lines += [
            "",
            f"The outbox relay ran throughout; at the end it had {relay['backlog_at_end']:,} events left to publish "
            f"({relay['drain_seconds']:g} s to drain).",
        ]
    lines += [
        "",
        f"![throughput and p99 against people and items, throughput against calls in flight]({plot_link})",
        "",
        "Raw figures: `benchmarks/results/bench_scale-*.json`.",
        END_MARKER,
    ]
    return "\n".join(lines) + "\n"


def plot(path: Path, results: dict[str, Any]) -> None:
    """Three panels: the check's rates and p99 against people; payments' rates and p99 against items;
    payments' rates against calls in flight."""
    import matplotlib  # noqa: PLC0415 - loaded only when plotting, with the file-only backend

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (people, items, flight) = plt.subplots(1, 3, figsize=(16, 5))
    check = results.get("check") or []
    if check:
        x = [r["people"] for r in check]
        for key, label in (("a2_select", "a2 bare SELECT"), ("c_check", "c CheckEnrollment")):
            people.plot(x, [_rate(r[key]) for r in check], marker="o", label=label)
        _p99_axis(people, x, [r["d_open_half"]["latency"].get("p99_ms", 0) for r in check], "d p99 at half rate")
    people.set_xscale("log")
    people.set_xlabel("people loaded")
    people.set_title("check")
    rows = (results.get("payments") or {}).get("rows", [])
    usual = [r for r in rows if r["concurrency"] == results["options"]["concurrency"]]
    if usual:
        x = [r["items"] for r in usual]
        for key, label in (("b_raw", "b raw"), ("c_same_shape", "c same shape"), ("d_applied", "d applied")):
            items.plot(x, [_rate(r[key]) for r in usual], marker="o", label=label)
        _p99_axis(items, x, [r["d_applied"]["latency"].get("p99_ms", 0) for r in usual], "d p99 (closed loop)")
    items.set_xscale("log")
    items.set_xlabel("payable items in the tax database")
    items.set_title(f"payments, {results['options']['concurrency']} in flight")
    if rows:
        last = max(r["items"] for r in rows)
        sweep = [r for r in rows if r["items"] == last]
        x = [r["concurrency"] for r in sweep]
        for key, label in (("b_raw", "b raw (capped)"), ("c_same_shape", "c same shape"), ("d_applied", "d applied")):
            flight.plot(x, [_rate(r[key]) for r in sweep], marker="o", label=label)
        flight.set_title(f"payments, {last:,} items")
    flight.set_xscale("log", base=2)
    flight.set_xlabel("calls in flight")
    for axis in (people, items, flight):
        axis.set_ylabel("calls per second")
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _p99_axis(axis: Any, x: list[int], p99: list[float], label: str) -> None:
    right = axis.twinx()
    right.plot(x, p99, color="grey", linestyle="--", marker="x", label=label)
    right.set_ylabel("p99 (ms)")
    right.set_ylim(bottom=0)
    right.legend(loc="lower right", fontsize="small")


# -- the run -------------------------------------------------------------------------------------------
