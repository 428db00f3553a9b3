"""The benchmark's summary: machine facts, targets judged, Markdown for docs/BENCHMARKS.md (only this
benchmark's section is replaced) and the raw JSON under benchmarks/results/."""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.processes import ROOT

DOC_PATH = ROOT / "docs" / "BENCHMARKS.md"
RESULTS_DIR = ROOT / "benchmarks" / "results"
START_MARKER = "<!-- bench-enrollment:start -->"
END_MARKER = "<!-- bench-enrollment:end -->"
FULL_ROWS = 10_000_000

PHASES = (
    ("a", "echo", "gRPC echo baseline (bare grpc.aio)"),
    ("a2", "select_ceiling", "ceiling: bare grpc.aio handler, the same primary-key SELECT, document bytes returned"),
    ("b", "asyncpg", "asyncpg lookup baseline (same SELECT, pool of the service's size)"),
    ("b2", "asyncpg_no_reset", "same, without the pool's reset query on release"),
    ("c", "check", "CheckEnrollment"),
    ("d", "check_open", "CheckEnrollment, open loop"),
    ("e1", "batch_check_c1", "BatchCheckEnrollments, 1,000 IDs per call"),
    ("e2", "batch_check_c2", "BatchCheckEnrollments, 1,000 IDs per call"),
    ("f", "check_open_with_writes", "CheckEnrollment, open loop, registrations running"),
)


async def machine_info(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        server_version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(_mem_total_kib() / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgresql": server_version,
        "python": platform.python_version(),
        "grpcio": version("grpcio"),
        "asyncpg": version("asyncpg"),
        "uvloop": version("uvloop"),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


# -- targets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    name: str
    target: str
    measured: str
    passed: bool | None  # None: not judged at this scale

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "measured": self.measured, "passed": self.passed}


def judge(results: dict[str, Any]) -> list[Judgement]:
    phases = results["phases"]
    found = [_judge_load(results.get("load", {}))]
    check = phases["check"]["calls_per_second"]
    for key, name, goal, least in (
        ("echo", "(c) CheckEnrollment throughput vs echo", ">= 60% of echo", 0.6),
        ("select_ceiling", "(c) CheckEnrollment throughput vs its bare SELECT ceiling (a2)", ">= 90% of it", 0.9),
    ):
        base = phases[key]["calls_per_second"]
        ratio = check / base if base else 0.0
        measured = f"{ratio:.0%} ({check:,.0f} vs {base:,.0f} calls/s)"
        found.append(Judgement(name, goal, measured, ratio >= least and _clean(phases["check"])))
    rate = results["settings"]["rate"]
    for key, label, limit_ms in (
        ("check_open", f"(d) open loop {rate:,}/s p99", 5.0),
        ("batch_check_c1", "(e) batch of 1,000, 1 in flight, p99", 50.0),
        ("batch_check_c2", "(e) batch of 1,000, 2 in flight, p99", 50.0),
        ("check_open_with_writes", "(f) open loop with registrations written, p99", 10.0),
    ):
        p99 = phases[key]["latency"].get("p99_ms", float("inf"))
        found.append(Judgement(label, f"< {limit_ms:g} ms", f"{p99:.2f} ms", p99 < limit_ms and _clean(phases[key])))
    batch = phases["batch_registration_10k"]
    found.append(
        Judgement(
            "(g) 10,000-row batch registration",
            "< 10 s",
            f"{batch['seconds']:.2f} s ({batch['rows_registered']:,} registered)",
            batch["seconds"] < 10 and batch["rows_registered"] == batch["rows"],
        )
    )
    return found


def _judge_load(load: dict[str, Any]) -> Judgement:
    target = "10,000,000 people in < 600 s"
    if not load or load.get("reused"):
        return Judgement("load", target, "database reused (--skip-load)", None)
    seconds, rows = load["total_seconds"], load["rows"]
    if rows >= FULL_ROWS:
        return Judgement("load", target, f"{seconds:.0f} s for {rows:,}", seconds < 600)
    linear = seconds * FULL_ROWS / rows
    return Judgement(
        "load", target, f"{seconds:.1f} s for {rows:,} (linear extrapolation {linear:.0f} s; not judged)", None
    )


def _clean(phase: dict[str, Any]) -> bool:
    return int(phase.get("errors", 0)) == 0


# -- Markdown ----------------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        START_MARKER,
        "## Enrollment check (`make bench-enrollment`)",
        "",
        f"Run {results['started_at']} with `{results['command']}`.{_scale_note(results)}",
        "",
        machine_line(results["machine"]),
        "",
        *_load_section(results),
        *_results_section(results),
        *_targets_section(results["targets"]),
        "### What limits the numbers",
        "",
        results["limits"],
        "",
        "Raw figures, with the encoded HdrHistograms: `benchmarks/results/` (one JSON file per run).",
        END_MARKER,
    ]
    return "\n".join(lines) + "\n"


def _scale_note(results: dict[str, Any]) -> str:
    rows = results["settings"]["rows"]
    if rows >= FULL_ROWS:
        return ""
    return f" A reduced-scale run ({rows:,} people); the default loads {FULL_ROWS:,}."


def machine_line(m: dict[str, Any]) -> str:
    load = ", ".join(f"{v:g}" for v in m["load_average_at_start"])
    return (
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, Linux {m['kernel']}; "
        f"PostgreSQL {m['postgresql']} (default configuration); Python {m['python']}; grpcio {m['grpcio']}; "
        f"asyncpg {m['asyncpg']}; uvloop {m['uvloop']}. The client, the services and PostgreSQL all run on this "
        f"one machine. Load average at start: {load}; cores busy with this run's processes idle, just before "
        f"the phases: {m.get('background_busy_cores', 0):.2f}."
    )


def _load_section(results: dict[str, Any]) -> list[str]:
    load, verification = results.get("load", {}), results["verification"]
    lines = ["### Data", ""]
    if load.get("reused"):
        lines.append(f"Reused database with {load['rows']:,} people (`--skip-load`).")
    else:
        lines += [
            "| people | enrollments | insurance years | check documents | COPY | keys and indexes "
            "| vacuum + analyze | total | people/s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {load['rows']:,} | {load['enrollments']:,} | {load['enrollment_years']:,} "
            f"| {load['check_documents']:,} | {load['copy_seconds']:.1f} s | {load['index_seconds']:.1f} s "
            f"| {load['vacuum_analyze_seconds']:.1f} s | {load['total_seconds']:.1f} s "
            f"| {load['rows'] / load['total_seconds']:,.0f} |",
            "",
            f"COPY from {load['workers']} loader processes in chunks of {load['chunk']:,} people; keys, "
            "foreign keys and indexes of the three tables dropped before and rebuilt after.",
        ]
    statuses = ", ".join(f"{k} {v}" for k, v in verification["statuses"].items())
    lines += [
        "",
        f"Checked before measuring: {verification['documents']} loaded check documents are identical to "
        f"what the check projection rebuilds (in a rolled-back transaction); {verification['answers']} "
        f"CheckEnrollment answers match the domain rule (statuses: {statuses}).",
        "",
        f"Then, to measure steady-state serving rather than the aftermath of the bulk load, a CHECKPOINT and "
        f"`pg_prewarm(..., 'read')` of the check table and its primary key into the OS page cache "
        f"({results['settle_seconds']} s).",
        "",
    ]
    return lines


def _results_section(results: dict[str, Any]) -> list[str]:
    phases, settings = results["phases"], results["settings"]
    how = {
        "echo": f"closed loop, {settings['concurrency']} in flight",
        "select_ceiling": f"closed loop, {settings['concurrency']} in flight",
        "asyncpg": f"closed loop, {settings['concurrency']} in flight",
        "asyncpg_no_reset": f"closed loop, {settings['concurrency']} in flight",
        "check": f"closed loop, {settings['concurrency']} in flight",
        "check_open": f"open loop, {settings['rate']:,}/s",
        "batch_check_c1": "closed loop, 1 in flight",
        "batch_check_c2": "closed loop, 2 in flight",
        "check_open_with_writes": f"open loop, {settings['rate']:,}/s",
    }
    lines = [
        "### Results",
        "",
        f"{settings['duration']:g} s measured per phase after {settings['warmup']:g} s of warm-up; "
        "latencies in ms (HdrHistogram, µs resolution); open-loop latency runs from each call's scheduled "
        "send time. CPU: cores used on average during the phase by the client, by the server process (echo or "
        "check service; none for b) and by the whole machine; server CPU per call is the server's CPU time "
        "divided by the calls it answered.",
        "",
        "| | phase | load | calls/s | p50 | p99 | p99.9 | max | errors | CPU: client / server / machine "
        "| server CPU per call |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for letter, key, title in PHASES:
        p = phases[key]
        lat = p["latency"]
        lines.append(
            f"| {letter} | {title} | {how[key]} | {p['calls_per_second']:,.0f} | {_ms(lat, 'p50_ms')} "
            f"| {_ms(lat, 'p99_ms')} | {_ms(lat, 'p99_9_ms')} | {_ms(lat, 'max_ms')} | {p['errors']} "
            f"| {_cpu(p['cpu'])} | {_per_call(p)} |"
        )
    writer, batch = phases["writer"], phases["batch_registration_10k"]
    lag_d = phases["check_open"].get("send_lag", {})
    lines += [
        "",
        f"- (e) {phases['batch_check_c1']['calls_per_second'] * 1000:,.0f} and "
        f"{phases['batch_check_c2']['calls_per_second'] * 1000:,.0f} IDs checked per second.",
        f"- (f) writer: {writer['calls']} BatchRegisterResidents calls of {writer.get('rows_per_call', 2000):,} new "
        f"Changzhou residents, {writer['rows_registered']:,} registered, "
        f"**{writer['rows_per_second']:,.0f} rows/s**; call "
        f"latency p50 {_ms(writer['call_latency'], 'p50_ms')} ms, max {_ms(writer['call_latency'], 'max_ms')} ms.",
        f"- (g) one batch of 10,000 rows (5 calls of 2,000, same batch id, sent one after the other): "
        f"**{batch['seconds']:.2f} s** end to end, {batch['rows_registered']:,} registered, "
        f"{batch['payable_years']:,} payable years created; slowest call {batch['slowest_call_seconds']:.2f} s.",
        f"- The open-loop sender's own lateness (timer granularity, event-loop stalls) in (d): p99 "
        f"{_ms(lag_d, 'p99_ms')} ms; it is part of the latencies above, not subtracted.",
        "",
    ]
    return lines


def _targets_section(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["### Targets", "", "| target | goal | measured | result |", "|---|---|---|---|"]
    for t in targets:
        verdict = {True: "**pass**", False: "**FAIL**", None: "not judged"}[t["passed"]]
        lines.append(f"| {t['name']} | {t['target']} | {t['measured']} | {verdict} |")
    return [*lines, ""]


def _server_cores(cpu: dict[str, float]) -> float:
    """The CPU of the server that answered the measured calls: the check service, or the echo server."""
    return cpu.get("enrollment_cores") or cpu.get("echo_cores") or 0.0


def _per_call(phase: dict[str, Any]) -> str:
    server, rate = _server_cores(phase["cpu"]), phase["calls_per_second"]
    if not server or not rate:
        return "-"
    micros = server / rate * 1e6
    return f"{micros / 1000:,.1f} ms" if micros >= 10_000 else f"{micros:,.0f} µs"


def _ms(latency: dict[str, Any], key: str) -> str:
    value = latency.get(key)
    return "-" if value is None else f"{value:.2f}"


def _cpu(cpu: dict[str, float]) -> str:
    server = _server_cores(cpu)
    return f"{cpu.get('client_cores', 0):.2f} / {server:.2f} / {cpu.get('machine_busy_cores', 0):.2f}"


def limits_text(results: dict[str, Any]) -> str:
    """What bounds the figures, from the CPU each process used while it was measured."""
    m, phases = results["machine"], results["phases"]
    check, echo = phases["check"], phases["echo"]
    background = m.get("background_busy_cores", 0.0)
    text = (
        f"CPU: the client, the servers and PostgreSQL share {m['cores']} cores (during (c) "
        f"{check['cpu']['machine_busy_cores']:.2f} of them were busy: client {check['cpu']['client_cores']:.2f}, "
        f"check service {_server_cores(check['cpu']):.2f}, PostgreSQL and everything else the rest), and the "
        f"single-threaded Python check service spends {_per_call(check)} of CPU per call against "
        f"{_per_call(echo)} for the bare echo server, so it saturates long before the echo does and the open "
        "loops queue as soon as their rate nears what the service gets of the cores."
    )
    if background >= 0.2:
        text += (
            f" Other work was running: with this run's processes idle the machine was already {background:.2f} "
            "cores busy, so these figures are lower and noisier than on a quiet machine."
        )
    return text


# -- files -------------------------------------------------------------------------------------------


def write_json(results: dict[str, Any], stamp: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"enrollment_check-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path


def update_doc(
    section: str, path: Path = DOC_PATH, *, start_marker: str = START_MARKER, end_marker: str = END_MARKER
) -> None:
    """Replaces a benchmark's section between its markers, keeping the rest of the file."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# Benchmarks\n\nFigures written by the benchmarks themselves; rerun to refresh.\n\n" + section)
        return
    text = path.read_text()
    pattern = re.compile(re.escape(start_marker) + r".*?" + re.escape(end_marker) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
