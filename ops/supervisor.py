"""Starts every service and worker in the foreground, prints where they listen, restarts a process
that dies, and stops them all cleanly on Ctrl-C or SIGTERM (python -m ops.supervisor)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass, field

from ops.processes import CALLBACKS, LOCAL_PROCESSES, ProcessSpec
from services.common.settings import Settings

STOP_TIMEOUT_SECONDS = 20.0


@dataclass
class Child:
    spec: ProcessSpec
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


async def start(child: Child, env: dict[str, str]) -> None:
    child.process = await asyncio.create_subprocess_exec(
        sys.executable, *child.spec.args, env={**env, **child.spec.env}
    )
    child.started_at = time.monotonic()


async def supervise(child: Child, env: dict[str, str], stopping: asyncio.Event) -> None:
    """Restarts the child when it exits on its own, with back-off if it keeps dying."""
    while True:
        assert child.process is not None
        code = await child.process.wait()
        if stopping.is_set():
            return
        quick = time.monotonic() - child.started_at < 10
        delay = min(2 ** min(child.restarts, 5), 30) if quick else 1
        child.restarts += 1
        print(f"[supervisor] {child.spec.name} exited with {code}; restarting in {delay}s", file=sys.stderr)
        await asyncio.sleep(delay)
        if stopping.is_set():
            return
        await start(child, env)


async def run() -> int:
    settings = Settings()
    env = dict(os.environ)
    children = [Child(spec) for spec in LOCAL_PROCESSES]
    for child in children:
        await start(child, env)
    print("[supervisor] started:", file=sys.stderr)
    for child in children:
        where = f"grpc://{child.spec.address(settings)}" if child.spec.address else "worker"
        if child.spec is CALLBACKS:  # R44: where `medins pay` and the channels send their callbacks
            scheme = "https" if settings.callbacks_tls_path is not None else "http"
            host = "127.0.0.1" if settings.listen_host in {"0.0.0.0", "::", ""} else settings.listen_host
            where = f"{scheme}://{host}:{settings.callbacks_port}"
        assert child.process is not None
        print(f"  {child.spec.name:<24} {where:<28} pid {child.process.pid}", file=sys.stderr)
    print("[supervisor] Ctrl-C stops everything", file=sys.stderr)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    watchers = [asyncio.create_task(supervise(c, env, stopping)) for c in children]
    await stopping.wait()
    print("[supervisor] stopping", file=sys.stderr)
    for child in children:
        if child.process and child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        if child.process is None:
            continue
        try:
            await asyncio.wait_for(child.process.wait(), timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            print(f"[supervisor] {child.spec.name} did not stop in time; killing", file=sys.stderr)
            child.process.kill()
            await child.process.wait()
    for watcher in watchers:
        watcher.cancel()
    print("[supervisor] all stopped", file=sys.stderr)
    return 0


def main() -> None:
    sys.exit(asyncio.run(run()))


if __name__ == "__main__":
    main()
