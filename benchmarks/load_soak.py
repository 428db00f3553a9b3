"""The load tool's soak (`--soak`, `make soak`): the maximum rate the machine sustains probed with a
closed loop, then half of it held for minutes in an open loop while the memory (RSS) of each of the
system's processes and the event backlog are sampled; verdicts on memory growth after the warm-up, on
latency drift minute by minute and on the backlog.

The probe plays long enough for what a sustained run brings besides the calls to be running too: the
load tool's registrations of more residents (and the tax side's assessment of them, the check
projection's writes), the relays and consumers carrying the events, the scheduled workers. Its rate is
taken from the steady part only (after PROBE_STEADY_FROM seconds) and scaled by the share of the events
written in that part that the relays and consumers carried away: a backlog that grows means the calls
outran the machine (`sustained_rate`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import load_mix
from benchmarks.load_backlog import BacklogReader, BacklogSample
from benchmarks.load_mix import Verdict
from benchmarks.load_player import Bounds, Player, play_within
from benchmarks.load_world import UsageError, say
from ops.processes import PROCESSES
from services.common.settings import Settings

SOAK_PROBE_SECONDS, SOAK_PROBE_CONCURRENCY = 60.0, 32
# The probe's first seconds are left out of its rate: connections warming, the first refills and their
# events not yet flowing.
PROBE_STEADY_FROM = 20.0
RSS_SAMPLE_SECONDS = 10.0
BACKLOG_SAMPLE_SECONDS = 5.0
# The soak's backlog verdict: the events waiting in its last minute may exceed those of its first
# measured minute by this many (one refill's events, a relay's batch) or this factor, whichever is more.
BACKLOG_SLACK, BACKLOG_FACTOR = 500, 1.5


@dataclass(frozen=True)
class ProbeRate:
    """The probe's decision: `played` calls/s in the steady part, `carried` the share of the events written
    then that the relays and consumers carried away (1 when they kept up or caught up), `sustained` the
    rate the machine sustains: played × carried."""

    played: float
    carried: float
    sustained: float
    seconds: int
    events_written: int
    backlog_growth: int

    def text(self) -> str:
        return (
            f"{self.played:,.1f} calls/s over the steady {self.seconds} s; events written {self.events_written:,}, "
            f"backlog {self.backlog_growth:+,}: {self.carried:.0%} carried, sustained {self.sustained:,.1f}/s"
        )


def sustained_rate(
    timeline: Sequence[Mapping[str, Any]], backlog: Sequence[BacklogSample], steady_from: float
) -> ProbeRate:
    """The rate the probe sustained: the calls per whole second from `steady_from` on (timeline rows of
    the player's seconds), times the share of the events written over the same part (between the first
    and the last backlog sample in it) that did not stay waiting."""
    seconds = [row["calls"] for row in timeline if row["second"] >= steady_from]
    if not seconds:
        raise ValueError("no whole second in the probe's steady part")
    played = sum(seconds) / len(seconds)
    steady = [s for s in backlog if s.second >= steady_from]
    written = growth = 0
    carried = 1.0
    if len(steady) >= 2:
        written = steady[-1].written - steady[0].written
        growth = steady[-1].waiting - steady[0].waiting
        if written > 0:
            carried = min(1.0, max(0.0, (written - growth) / written))
    return ProbeRate(played, carried, played * carried, len(seconds), written, growth)


def backlog_verdict(samples: Sequence[BacklogSample], warmup_seconds: float) -> Verdict:
    """The events waiting in the soak's last minute against its first minute after the warm-up (means of
    the samples): the relays and consumers kept up when the backlog did not grow."""
    after = [s for s in samples if s.second >= warmup_seconds]
    if len(after) < 2 or after[-1].second - after[0].second < 120:
        return Verdict(False, "fewer than two minutes of backlog samples: no backlog verdict")
    first = [s.waiting for s in after if s.second < after[0].second + 60]
    last = [s.waiting for s in after if s.second > after[-1].second - 60]
    begin, end = sum(first) / len(first), sum(last) / len(last)
    limit = max(begin * BACKLOG_FACTOR, begin + BACKLOG_SLACK)
    text = f"events waiting {begin:,.0f} in the first minute, {end:,.0f} in the last"
    if end > limit:
        return Verdict(False, f"event backlog grew: {text}")
    return Verdict(True, f"events kept up: {text}")


async def sample_backlog(
    reader: BacklogReader, player: Player, into: list[BacklogSample], every_seconds: float = BACKLOG_SAMPLE_SECONDS
) -> None:
    """Samples the backlog every `every_seconds` of the player's current play until cancelled."""
    while True:
        into.append(await reader.sample(player.started_ns))
        await asyncio.sleep(every_seconds)


async def play_sampled(
    player: Player, bounds: Bounds, reader: BacklogReader, **kwargs: Any
) -> tuple[float, list[BacklogSample]]:
    """Plays within the bounds with the backlog sampled alongside (and once more at the end)."""
    samples: list[BacklogSample] = []
    playing = asyncio.create_task(play_within(player, bounds, **kwargs))
    await asyncio.sleep(0)  # play_within has reset the player's clock before its first await
    sampling = asyncio.create_task(sample_backlog(reader, player, samples))
    try:
        seconds = await playing
    finally:
        sampling.cancel()
    samples.append(await reader.sample(player.started_ns))
    return seconds, samples


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
    async with BacklogReader(settings) as reader:
        return await _soak(player, args, settings, reader)


async def _soak(player: Player, args: argparse.Namespace, settings: Settings, reader: BacklogReader) -> dict[str, Any]:
    rate = args.soak_rate
    found: dict[str, Any] = {}
    if rate is None:
        say(
            f"probing the sustained maximum: closed loop, {SOAK_PROBE_CONCURRENCY} in flight, "
            f"{SOAK_PROBE_SECONDS:g} s (rate from {PROBE_STEADY_FROM:g} s on, refills and event backlog included)"
        )
        probe = Bounds(SOAK_PROBE_SECONDS, None, concurrency=SOAK_PROBE_CONCURRENCY)
        _, probe_backlog = await play_sampled(player, probe, reader)
        decided = sustained_rate(player.timeline.rows, probe_backlog, PROBE_STEADY_FROM)
        say(f"probe: {decided.text()}")
        found["probe"] = {
            "decision": decided.__dict__,
            "text": decided.text(),
            "timeline": player.timeline.rows,
            "backlog": [s.__dict__ for s in probe_backlog],
            "refills": list(player.world.refills),
        }
        player.world.refills.clear()
        found["maximum_rate"] = round(decided.sustained, 1)
        rate = decided.sustained / 2
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
    found["loop"] = f"open loop, {rate:,.1f}/s (half the sustained maximum)"
    found["began_at"] = dt.datetime.now(dt.UTC).isoformat()  # second 0 of the timeline, within a few ms
    found["seconds"], backlog = await play_sampled(player, bounds, reader, on_second=sample)
    sample()
    minutes = [
        player.minutes[m].summary() if m in player.minutes else {"count": 0} for m in range(int(found["seconds"] // 60))
    ]
    warmup = args.warmup_minutes * 60
    # The drift verdict compares whole minutes after the warm-up.
    measured = [m.get("p99_ms") for i, m in enumerate(minutes) if i >= args.warmup_minutes]
    verdicts = [
        load_mix.memory_verdict(samples, warmup),
        load_mix.drift_verdict(measured),
        backlog_verdict(backlog, warmup),
    ]
    if gone:
        verdicts.append(Verdict(False, "exited during the soak: " + ", ".join(sorted(gone))))
    found |= {
        "soak_rate": round(rate, 1),
        "rss_samples": samples,
        "backlog": [s.__dict__ for s in backlog],
        "minutes": [{k: v for k, v in m.items() if k != "hdr"} for m in minutes],
        "verdicts": [{"passed": v.passed, "text": v.text} for v in verdicts],
    }
    return found
