"""The enrollment check's audit (R35): every check is recorded before it is answered (issue 17), one poison
record cannot switch the audit off (issue 9), and when nothing can be written the checks are refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from services.common.clock import CST
from services.common.db import Pool
from services.common.errors import Unavailable
from services.enrollment.audit import AuditLog

AT = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)
NUMBER = ["340802200511250012"]


async def _notes(pool: Pool) -> list[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT caller_note FROM enrollment_check_audit ORDER BY id")
    return [r["caller_note"] for r in rows]


@pytest.fixture
async def running(insurance_pool: Pool) -> AsyncIterator[AuditLog]:
    audit = AuditLog()
    stop = asyncio.Event()
    task = asyncio.create_task(audit.run(insurance_pool, stop))
    await asyncio.sleep(0)  # let it start
    yield audit
    stop.set()
    await task


async def test_a_check_is_recorded_by_the_time_it_returns(running: AuditLog, insurance_pool: Pool) -> None:
    await running.record(AT, "hospital:h1", "desk-3", "HOSPITAL_SETTLEMENT", NUMBER, "c1")
    async with insurance_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT caller, caller_note, purpose, resident_id_numbers FROM enrollment_check_audit"
        )
    assert row is not None and tuple(row) == ("hospital:h1", "desk-3", "HOSPITAL_SETTLEMENT", NUMBER)


async def test_concurrent_checks_are_written_together_and_each_waits_for_its_own(
    running: AuditLog, insurance_pool: Pool
) -> None:
    await asyncio.gather(*(running.record(AT, "tax:t", f"n{i}", "TAX_COLLECTION", NUMBER, "c") for i in range(200)))
    assert sorted(await _notes(insurance_pool)) == sorted(f"n{i}" for i in range(200))


async def test_a_poison_record_does_not_stop_auditing(running: AuditLog, insurance_pool: Pool) -> None:
    notes = ["before", "poison\x00note", "surrogate\ud800", "after"]
    await asyncio.gather(*(running.record(AT, "hospital:h1", n, "HOSPITAL_SETTLEMENT", NUMBER, "c") for n in notes))
    assert await _notes(insurance_pool) == ["before", "poison\\u0000note", "surrogate\\ud800", "after"]
    await running.record(AT, "tax:t", "later", "TAX_COLLECTION", NUMBER, "c5")
    assert (await _notes(insurance_pool))[-1] == "later"


async def test_checks_are_refused_when_their_records_cannot_be_written(insurance_pool: Pool) -> None:
    audit = AuditLog()
    with pytest.raises(Unavailable) as refused:  # not running: nothing would write the record
        await audit.record(AT, "tax:t", "", "TAX_COLLECTION", NUMBER, "c")
    assert refused.value.reason == "AUDIT_UNAVAILABLE"
    stop = asyncio.Event()
    task = asyncio.create_task(audit.run(insurance_pool, stop))
    await asyncio.sleep(0)
    async with insurance_pool.acquire() as conn:
        await conn.execute("ALTER TABLE enrollment_check_audit RENAME TO enrollment_check_audit_away")
    try:
        with pytest.raises(Unavailable):
            await audit.record(AT, "tax:t", "lost", "TAX_COLLECTION", NUMBER, "c")
    finally:
        async with insurance_pool.acquire() as conn:
            await conn.execute("ALTER TABLE enrollment_check_audit_away RENAME TO enrollment_check_audit")
        stop.set()
        await task
