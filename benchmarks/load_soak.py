"""The load tool's soak (`--soak`, `make soak`): the maximum rate probed with a closed loop, then half
of it held for minutes in an open loop while the memory (RSS) of each of the system's processes is
sampled; verdicts on memory growth after the warm-up and on latency drift minute by minute."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks import load_mix
from benchmarks.load_mix import Verdict
from benchmarks.load_player import Bounds, Player, play_within
from benchmarks.load_world import UsageError, say
from ops.processes import PROCESSES
from services.common.settings import Settings

SOAK_PROBE_SECONDS, SOAK_PROBE_CONCURRENCY = 20.0, 32
RSS_SAMPLE_SECONDS = 10.0


def system_processes(settings: Settings) -> dict[str, int]:
    """The processes of the system under load: a service or worker of ops/processes.py whose MEDINS_*
    databases are ours (other systems may run on the same machine). Name -> pid."""
    commands = {spec.args: spec.name for spec in PROCESSES}
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = tuple((entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[1:-1])
            env = dict(
                line.split("=", 1)
                for line in (entry / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in line
            )
        except OSError:
            continue
        name = commands.get(argv)
        if name is None:
            continue
        if (env.get("MEDINS_TAX_DB", "medins_tax"), env.get("MEDINS_INSURANCE_DB", "medins_insurance")) != (
            settings.tax_db,
            settings.insurance_db,
        ):
            continue
        found[name if name not in found else f"{name}#{entry.name}"] = int(entry.name)
    return found


def rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


async def soak(player: Player, args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    rate = args.soak_rate
    found: dict[str, Any] = {}
    if rate is None:
        say(f"probing the maximum rate: closed loop, {SOAK_PROBE_CONCURRENCY} in flight, {SOAK_PROBE_SECONDS:g} s")
        probe = Bounds(SOAK_PROBE_SECONDS, None, concurrency=SOAK_PROBE_CONCURRENCY)
        probe_seconds = await play_within(player, probe)
        maximum = sum(s.calls for s in player.stats.values()) / probe_seconds
        found["maximum_rate"] = round(maximum, 1)
        rate = maximum / 2
    pids = system_processes(settings)
    if not pids:
        raise UsageError("found none of the system's processes to sample (same MEDINS_* databases as this shell?)")
    say(f"soak: open loop at {rate:,.1f}/s for {args.soak_minutes:g} min; sampling the memory of {len(pids)} processes")
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
    gone: set[str] = set()  # a process that exited (and was perhaps restarted) during the soak
    next_sample = [0.0]

    def sample() -> None:
        elapsed = (time.perf_counter_ns() - player.started_ns) / 1e9
        if elapsed < next_sample[0]:
            return
        next_sample[0] = elapsed + RSS_SAMPLE_SECONDS
        for name, pid in pids.items():
            rss = rss_bytes(pid)
            if rss is None:
                gone.add(name)
            elif name not in gone:
                samples[name].append((round(elapsed, 1), rss))

    bounds = Bounds(args.soak_minutes * 60, None, rate=rate)
    found["loop"] = f"open loop, {rate:,.1f}/s (half the maximum)"
    found["seconds"] = await play_within(player, bounds, on_second=sample)
    sample()
    minutes = [
        player.minutes[m].summary() if m in player.minutes else {"count": 0} for m in range(int(found["seconds"] // 60))
    ]
    warmup = args.warmup_minutes * 60
    # The drift verdict compares whole minutes after the warm-up.
    measured = [m.get("p99_ms") for i, m in enumerate(minutes) if i >= args.warmup_minutes]
    verdicts = [load_mix.memory_verdict(samples, warmup), load_mix.drift_verdict(measured)]
    if gone:
        verdicts.append(Verdict(False, "exited during the soak: " + ", ".join(sorted(gone))))
    found |= {
        "soak_rate": round(rate, 1),
        "rss_samples": samples,
        "minutes": [{k: v for k, v in m.items() if k != "hdr"} for m in minutes],
        "verdicts": [{"passed": v.passed, "text": v.text} for v in verdicts],
    }
    return found
