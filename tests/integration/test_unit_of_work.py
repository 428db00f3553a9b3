"""A unit of work whose COMMIT fails raises the server's reason, not asyncpg's "cannot rollback" from
the rollback tried after it (issue 23's review: a failed COMMIT read as INTERNAL instead of its cause),
and its connection goes back to the pool usable."""

from __future__ import annotations

import asyncpg
import pytest

from services.common.db import UnitOfWork, close_pool, create_pool
from tests.infra import Stack


async def test_a_failed_commit_raises_its_own_reason_and_the_connection_is_given_back(stack: Stack) -> None:
    pool = await create_pool(stack.settings().insurance_dsn, min_size=1, max_size=1, attempts=3)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                """CREATE TEMP TABLE IF NOT EXISTS commit_probe (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)"""
            )
        # The pool holds one connection: the temporary table is the unit's too.
        with pytest.raises(asyncpg.UniqueViolationError):  # found at COMMIT, as a deferred check is
            async with UnitOfWork(pool) as uow:
                await uow.conn.execute("INSERT INTO commit_probe (n) VALUES (1), (1)")
                await uow.commit()
        async with UnitOfWork(pool) as uow:  # the one connection is back and usable
            assert await uow.conn.fetchval("SELECT count(*) FROM commit_probe") == 0
            await uow.commit()
    finally:
        await close_pool(pool)
