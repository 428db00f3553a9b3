"""`medins load` (issue 12 item 5) for a few seconds against the real processes on a stack of their own:
it seeds people through the RPCs, plays every operation of the mix, and reports a table, JSON, a PNG
and a clean audit. The soak runs the same player longer; only its verdicts are tested, in the unit tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from benchmarks import load_mix
from tests.e2e.clients import RegistrationClient
from tests.e2e.fleet import own_system
from tests.e2e.requests import create_region, policy
from tests.e2e.system import ROOT, System

REGION = "349907"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def clock_at_start() -> None:
    """Overrides the package's autouse fixture: this module runs a system of its own."""


@pytest.fixture(scope="module")
async def load_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with own_system("load", Path(tmp_path_factory.mktemp("load"))) as system:
        await create_region(
            RegistrationClient(system.channel("registration")),
            REGION,
            "负载测试市",
            policy(REGION, 2024, 38000, (dt.date(2023, 9, 1), dt.date(2023, 12, 31))),
        )
        yield system


def load(system: System, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "benchmarks.load_tool", "--region", REGION, "--out", str(out), *args]
    return subprocess.run(command, env=system.env, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


@pytest.mark.timeout(300)
async def test_a_short_open_loop_plays_every_operation_and_reports_a_table_json_png_and_a_clean_audit(
    load_system: System, tmp_path: Path
) -> None:
    done = await asyncio.to_thread(
        load,
        load_system,
        tmp_path,
        "--rate",
        "40",
        "--duration",
        "6",
        "--people",
        "120",
        "--seed",
        "12",
        "--batch-size",
        "20",
        "--audit-wait",
        "120",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    sys.stderr.write(done.stdout)
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {r["operation"]: r for r in results["operations"]}
    assert set(rows) == {*load_mix.OPERATIONS, "all"}, rows.keys()
    assert rows["all"]["calls"] == sum(r["calls"] for name, r in rows.items() if name != "all")
    assert rows["all"]["errors"] == {}
    assert 200 <= rows["all"]["calls"] <= 240  # 40/s for 6 s, open loop
    assert rows["all"]["p50_ms"] <= rows["all"]["p99_ms"] <= rows["all"]["max_ms"]
    assert results["audit"] == {"clean": True, "violations": 0, "table": results["audit"]["table"]}
    assert (tmp_path / "latency.png").read_bytes().startswith(PNG_MAGIC)
    assert "operation" in done.stdout and "p99.9" in done.stdout and "audit clean" in done.stdout
    # The live progress line, rewritten once a second (text mode reads its "\r" as a line end).
    assert sum(" s  calls " in line for line in done.stderr.splitlines()) >= 5, done.stderr
    # What it did is in the databases: each payment once, each double payment a refund.
    payments = await load_system.value("tax", "SELECT count(*) FROM payments WHERE channel <> 'SUBSIDY'")
    assert payments == rows["pay"]["ok"] + rows["late_pay"]["ok"]


@pytest.mark.timeout(300)
async def test_a_closed_loop_stops_at_its_count(load_system: System, tmp_path: Path) -> None:
    done = await asyncio.to_thread(
        load, load_system, tmp_path, "--concurrency", "4", "--count", "60", "--duration", "60", "--people", "60"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["loop"] == "closed loop, 4 in flight"
    assert results["operations"][-1]["operation"] == "all" and results["operations"][-1]["calls"] == 60
    assert results["seconds"] < 60  # the count ended it, not the time


@pytest.mark.timeout(120)
async def test_a_remote_address_is_refused_without_allow_remote(load_system: System, tmp_path: Path) -> None:
    done = await asyncio.to_thread(load, load_system, tmp_path, "--collection", "192.0.2.1:50053", "--duration", "1")

    assert done.returncode == 2
    assert "not a loopback address" in done.stderr and "Traceback" not in done.stderr
