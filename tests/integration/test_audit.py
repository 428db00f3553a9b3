"""The enrollment check's audit (R35): every check is recorded before it is answered (issue 17), one poison
record cannot switch the audit off (issue 9), and when nothing can be written the checks are refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from services.common import person_trail
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


async def _trail(pool: Pool) -> list[tuple[str, ...]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT resident_id_number, caller, caller_note, method, request_id, correlation_id FROM person_trail"
        )
    return [tuple(r) for r in rows]


async def test_a_residents_own_look_up_is_on_their_trail_by_the_time_it_returns(
    running: AuditLog, insurance_pool: Pool
) -> None:
    """R48, R35: the trail row is written with the check's record, and both are committed on return."""
    trail = person_trail.rows_for(NUMBER, "channel:wechat", "GetMyEnrollment", "years=2023,2024", "c7")
    await running.record(AT, "channel:wechat", "", "RESIDENT_SELF", NUMBER, "c7", trail=trail)
    assert await _trail(insurance_pool) == [
        (NUMBER[0], "channel:wechat", "", "GetMyEnrollment", "years=2023,2024", "c7")
    ]
    await running.record(AT, "tax:t", "", "TAX_COLLECTION", NUMBER, "c8")  # an agency's check: no trail row
    assert len(await _trail(insurance_pool)) == 1


async def test_a_poison_trail_row_is_isolated_like_its_record(running: AuditLog, insurance_pool: Pool) -> None:
    trail = person_trail.rows_for(NUMBER, "channel:wechat", "GetMyEnrollment", "years=2023", "c", "bad\x00note")
    await asyncio.gather(
        running.record(AT, "channel:wechat", "bad\x00note", "RESIDENT_SELF", NUMBER, "c", trail=trail),
        running.record(AT, "tax:t", "fine", "TAX_COLLECTION", NUMBER, "c"),
    )
    assert sorted(await _notes(insurance_pool)) == ["bad\\u0000note", "fine"]
    assert [row[2] for row in await _trail(insurance_pool)] == ["bad\\u0000note"]


async def test_a_look_up_whose_trail_cannot_be_written_is_refused_and_leaves_no_record(
    running: AuditLog, insurance_pool: Pool
) -> None:
    """The check's record and the trail commit together: neither without the other."""
    trail = person_trail.rows_for(NUMBER, "channel:wechat", "GetMyEnrollment", "years=2023", "c")
    async with insurance_pool.acquire() as conn:
        await conn.execute("ALTER TABLE person_trail RENAME TO person_trail_away")
    try:
        with pytest.raises(Unavailable) as refused:
            await running.record(AT, "channel:wechat", "", "RESIDENT_SELF", NUMBER, "c", trail=trail)
        assert refused.value.reason == "AUDIT_UNAVAILABLE"
    finally:
        async with insurance_pool.acquire() as conn:
            await conn.execute("ALTER TABLE person_trail_away RENAME TO person_trail")
    assert await _notes(insurance_pool) == []
    await running.record(AT, "tax:t", "later", "TAX_COLLECTION", NUMBER, "c")  # the audit goes on
    assert await _notes(insurance_pool) == ["later"]
