"""`make bench-scale` (issue 23 item 6) at a tiny size: the program grows both databases from one size to
the next, measures every phase, and writes its JSON, its plot and its section of a copy of the doc, on
databases and a vhost of its own (named after this process), dropped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import scale_report
from tests.e2e.system import ROOT

SIZES = (2_000, 5_000)
CONCURRENCIES = (1, 8)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clock_at_start() -> None:
    """Overrides the package's autouse fixture: the program runs processes of its own."""


@pytest.mark.timeout(180)
def test_a_tiny_run_has_a_row_per_size_and_per_concurrency_with_non_zero_rates(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nkept as it is\n")
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_scale",
        "--sizes",
        ",".join(map(str, SIZES)),
        # A phase of 1 s sees dozens of calls even on a busy machine. The phases that once counted none
        # (CI, 2026-12-04) were refused for want of the channels' keys, not slow: see the env below.
        "--duration",
        "1.0",
        "--warmup",
        "0.5",
        "--concurrency",
        "4",
        "--concurrencies",
        ",".join(map(str, CONCURRENCIES)),
        "--raw-connections",
        "4",
        # No --orders: the default seeds enough for every phase of the plan (3,000 once ran out, CI 2026-12-04).
        "--load-workers",
        "1",
        "--name",
        f"medins_scale_test_{os.getpid()}",
        "--doc",
        str(doc),
        "--plot",
        str(tmp_path / "scale.png"),
        "--results-dir",
        str(tmp_path),
    ]
    # Keys of its own, none yet: the program must make them before its services start and read them
    # (a fresh clone's first run once had every notification refused, CI 2026-12-04).
    env = {**os.environ, "MEDINS_CHANNEL_KEYS_DIR": str(tmp_path / "channel-keys" / "verify")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "expected about" in done.stdout  # the estimate comes first

    (found,) = tmp_path.glob("bench_scale-*.json")
    results = json.loads(found.read_text())
    check = {r["people"]: r for r in results["check"]}
    assert sorted(check) == list(SIZES)
    for row in check.values():
        assert all(row[k]["calls_per_second"] > 0 for k in ("a2_select", "c_check", "d_open_half"))
    payments = results["payments"]["rows"]
    assert {(r["items"], r["concurrency"]) for r in payments} == {
        (SIZES[0], 4),
        *((SIZES[1], c) for c in (*CONCURRENCIES, 4)),
    }
    for row in payments:
        assert all(row[k]["calls_per_second"] > 0 for k in ("b_raw", "c_same_shape", "d_applied")), (
            json.dumps({k: row[k] for k in ("items", "concurrency", "b_raw", "c_same_shape", "d_applied")})
            + done.stdout[-3000:]
        )
    assert max(r["raw_connections"] for r in payments) == 4  # capped: 8 in flight on 4 connections
    assert payments[-1]["fill"] is None or payments[-1]["fill"]["items"] == SIZES[1]

    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nkept as it is\n")
    section = text[text.index(scale_report.START_MARKER) :]
    assert section.rstrip().endswith(scale_report.END_MARKER)
    assert "| 5,000 |" in section and "](scale.png)" in section
    assert (tmp_path / "scale.png").read_bytes().startswith(PNG_MAGIC)
