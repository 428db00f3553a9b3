"""Issue 9: one poison record cannot switch the enrollment check's audit trail off. A record the
database refuses is isolated (written escaped, or reported), every other record is written, and what
is pending is flushed on a graceful stop."""

from __future__ import annotations

import asyncio
import datetime as dt

from services.common.clock import CST
from services.common.db import Pool
from services.enrollment.audit import AuditLog
from tests.support import eventually

AT = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)


async def _callers(pool: Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [r["caller_id"] for r in await conn.fetch("SELECT caller_id FROM enrollment_check_audit ORDER BY id")]


async def test_a_poison_record_does_not_stop_auditing(insurance_pool: Pool) -> None:
    audit = AuditLog(flush_seconds=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(audit.run(insurance_pool, stop))
    audit.record(AT, "before", "HOSPITAL_SETTLEMENT", ["340802200511250012"], "c1")
    audit.record(AT, "poison\x00caller", "HOSPITAL_SETTLEMENT", ["340802200511250012"], "c2")
    audit.record(AT, "surrogate\ud800", "HOSPITAL_SETTLEMENT", ["340802200511250012"], "c3")
    audit.record(AT, "after", "HOSPITAL_SETTLEMENT", ["340802200511250012"], "c4")

    async def all_four_written() -> list[str]:
        callers = await _callers(insurance_pool)
        assert len(callers) == 4, callers
        return callers

    callers = await eventually(all_four_written)
    assert callers == ["before", "poison\\u0000caller", "surrogate\\ud800", "after"]

    audit.record(AT, "later", "TAX_COLLECTION", ["340802200511250012"], "c5")
    await eventually(lambda: _has(insurance_pool, "later"))

    stop.set()
    await running


async def test_what_is_pending_is_flushed_on_a_graceful_stop(insurance_pool: Pool) -> None:
    audit = AuditLog(flush_seconds=3600)  # no periodic flush within the test: only the one on stop
    stop = asyncio.Event()
    running = asyncio.create_task(audit.run(insurance_pool, stop))
    audit.record(AT, "at-shutdown", "TAX_COLLECTION", ["340802200511250012"], "c6")
    stop.set()
    await running
    assert await _callers(insurance_pool) == ["at-shutdown"]


async def _has(pool: Pool, caller: str) -> None:
    assert caller in await _callers(pool)
