"""A process told to stop always stops: a pool with a connection nobody gives back is terminated after
a bound instead of waiting forever (seen when a broker restart cut a consumer mid-message)."""

from __future__ import annotations

import asyncio
import time

from services.common.db import close_pool, create_pool
from tests.infra import Stack


async def test_a_pool_with_a_connection_never_released_still_closes_within_its_bound(stack: Stack) -> None:
    pool = await create_pool(stack.settings().insurance_dsn, min_size=1, max_size=2, attempts=3)
    held = await pool.acquire()  # never released, as by a task that was lost
    started = time.monotonic()
    await asyncio.wait_for(close_pool(pool, grace_seconds=0.5), timeout=10)
    assert time.monotonic() - started < 5
    assert held is not None and pool.is_closing()
