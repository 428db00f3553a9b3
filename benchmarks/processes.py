"""The child processes of a benchmark run: started with their own log file and session, and all stopped
(SIGTERM, then SIGKILL after a grace) whatever way the run ends."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import grpc_channels

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.05


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def check_running(self) -> None:
        if self.process.returncode is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")


class Children:
    """Every process this run started, so that one call stops them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []

    async def start(self, name: str, args: list[str], env: dict[str, str], *, pipes: bool = False) -> Child:
        """Starts `python <args>`; with `pipes`, its stdin and stdout are pipes to this process."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with _append(log_path) as log:
            # A session of its own: a Ctrl-C in the terminal reaches only this process, which then stops
            # the children in order instead of having everything die at once under the client.
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                env=env,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if pipes else log,
                stderr=log,
                start_new_session=True,
            )
        child = Child(name, process, log_path)
        self._children.append(child)
        return child

    async def run(self, name: str, args: list[str], env: dict[str, str]) -> str:
        """Runs a process to completion and returns its standard output; fails if it fails."""
        child = await self.start(name, args, env, pipes=True)
        out, _ = await child.process.communicate()
        if child.process.returncode != 0:
            raise RuntimeError(f"{name} failed with {child.process.returncode}:\n{child.log_tail()}")
        return out.decode()

    async def stop(self, child: Child, grace_seconds: float = 15.0) -> None:
        if child.process.returncode is None:
            child.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.process.wait(), timeout=grace_seconds)
            except TimeoutError:
                child.process.kill()
                await child.process.wait()
        if child in self._children:
            self._children.remove(child)

    async def stop_all(self) -> None:
        """Stops the most recently started first (clients of a service before the service)."""
        for child in reversed(list(self._children)):
            await self.stop(child)


async def poll_until(check: Callable[[], Awaitable[bool]], *, within_seconds: float, what: str) -> None:
    """Polls `check` until it is true; fails after `within_seconds`."""
    deadline = time.monotonic() + within_seconds
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {within_seconds:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


async def wait_serving(child: Child, address: str, within_seconds: float = 60.0) -> None:
    """Waits until the server's gRPC health reports SERVING (it answers NOT_SERVING until its pool is up)."""
    async with grpc_channels.aio_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            child.check_running()
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        await poll_until(serving, within_seconds=within_seconds, what=child.name)


def _append(path: Path) -> BinaryIO:
    return path.open("ab")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (fields 14 and 15, in clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def cancel_on_sigterm() -> None:
    """SIGTERM cancels the running task like Ctrl-C does, so its finally clauses stop the processes and
    drop the databases."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


def invocation(module: str, argv: list[str] | None) -> str:
    """The command line a benchmark records with its results: `argv`, or this process's own arguments."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
