"""Process lifecycle: run a main coroutine on uvloop until SIGTERM or SIGINT asks it to stop."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
import uvloop

from services.common.settings import Settings

log = structlog.get_logger(__name__)

Main = Callable[[asyncio.Event], Awaitable[None]]


def run(main: Main) -> None:
    """Runs `main(stop)` at the process's niceness; `stop` is set on SIGTERM/SIGINT so main can shut
    down gracefully."""
    niceness = Settings().niceness
    if niceness:
        os.nice(niceness)
    uvloop.run(_run(main))


async def _run(main: Main) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _request_stop, stop, sig)
    await main(stop)


def _request_stop(stop: asyncio.Event, sig: signal.Signals) -> None:
    if not stop.is_set():
        log.info("stop_requested", signal=sig.name)
    stop.set()


async def run_until_stopped(stop: asyncio.Event, *tasks: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Runs several loops under one TaskGroup; when any fails, the others are stopped too."""
    async with asyncio.TaskGroup() as group:
        for task in tasks:
            group.create_task(task(stop))
