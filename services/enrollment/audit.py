"""The audit log of checks: who asked about whom, when, and why (R35).

Who is the caller's authenticated identity (its certificate); the caller_id a request carries is kept
beside it as a note, never in its place (R41).

Every check is recorded before it is answered: `record` returns once the record is committed, so a
service killed at any moment has answered no lookup it has not recorded. Records of concurrent checks
are committed together (group commit): while one COPY is in flight the next checks queue up, and one
COPY writes them all, so the cost per check is one round trip under light load and a share of one
under heavy load. When the records cannot be written, the checks are refused (AUDIT_UNAVAILABLE):
nobody may look a person up without the lookup being recorded.

No record can switch auditing off: caller ids are checked at the edge (R34), and should a record still
be refused by the database, the batch is written row by row, the refused record is isolated (written
with its text fields escaped, or else that one check is refused) and every other record is written.

A resident's look-up of themselves (GetMyEnrollment, R48) is also on their person trail: its record
carries the trail rows (services/common/person_trail.py), written in the same transaction as the check's
record, so the look-up is answered only once both are committed, and refused like any check when they
cannot be.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import structlog

from services.common import person_trail
from services.common.db import Connection, Pool
from services.common.errors import Unavailable

log = structlog.get_logger(__name__)

# Checks waiting for their records at once; beyond it a check is refused rather than queued.
MAX_WAITING = 20_000
COLUMNS = ["checked_at", "caller", "caller_note", "purpose", "resident_id_numbers", "correlation_id"]
AuditRow = tuple[dt.datetime, str, str, str, list[str], str]
# What the database refuses in a record's values (bad encoding, NUL): the record is at fault, not the
# connection, so it is isolated instead of blocking the batch.
_RECORD_FAULTS = (asyncpg.DataError, UnicodeError, ValueError, TypeError)
# A check's record, and the person-trail rows written with it (none for an agency's check).
Entry = tuple[AuditRow, list[person_trail.TrailRow]]
Waiting = list[tuple[Entry, "asyncio.Future[None]"]]


def _unavailable() -> Unavailable:
    return Unavailable(
        "AUDIT_UNAVAILABLE",
        "the audit log cannot be written; checks are paused",
        "审计日志暂不可用,查询暂停服务",
    )


class AuditLog:
    def __init__(self) -> None:
        self._waiting: Waiting = []
        self._wake = asyncio.Event()
        self._running = False

    async def record(
        self,
        at: dt.datetime,
        caller: str,
        caller_note: str,
        purpose: str,
        numbers: list[str],
        correlation_id: str,
        trail: list[person_trail.TrailRow] | None = None,
    ) -> None:
        """Returns once the check's record (and the `trail` rows with it) is committed; raises
        AUDIT_UNAVAILABLE when it cannot be."""
        if not self._running or len(self._waiting) >= MAX_WAITING:
            raise _unavailable()
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((((at, caller, caller_note, purpose, numbers, correlation_id), trail or []), written))
        self._wake.set()
        # A check cancelled while it waits cancels only its wait: its record is in the batch all the same.
        await written

    async def run(self, pool: Pool, stop: asyncio.Event) -> None:
        """Writes what checks wait for until stopped, then what is still waiting."""
        self._running = True
        stopping = asyncio.create_task(stop.wait())
        try:
            while not (stop.is_set() and not self._waiting):
                if not self._waiting:
                    woken = asyncio.create_task(self._wake.wait())
                    await asyncio.wait([woken, stopping], return_when=asyncio.FIRST_COMPLETED)
                    woken.cancel()
                self._wake.clear()
                batch, self._waiting = self._waiting, []
                if batch:
                    await self._write(pool, batch)
        finally:
            self._running = False
            stopping.cancel()
            for _, written in self._waiting:
                if not written.done():
                    written.set_exception(_unavailable())
            self._waiting = []

    async def _write(self, pool: Pool, batch: Waiting) -> None:
        try:
            async with pool.acquire() as conn:
                try:
                    await _copy(conn, [entry for entry, _ in batch])
                    _settle(batch)
                except _RECORD_FAULTS:
                    await self._write_one_by_one(conn, batch)
        except Exception as exc:
            log.warning("audit_write_failed", checks=len(batch), error=type(exc).__name__)
            _settle(batch, _unavailable())

    async def _write_one_by_one(self, conn: Connection, batch: Waiting) -> None:
        """Some record of the batch was refused: write each alone, isolating the ones at fault."""
        for entry, written in batch:
            try:
                await _copy(conn, [entry])
            except _RECORD_FAULTS as exc:
                _settle([(entry, written)], await _isolate(conn, entry, exc))
            else:
                _settle([(entry, written)])


def _settle(batch: Waiting, error: Exception | None = None) -> None:
    for _, written in batch:
        if written.done():
            continue
        if error is None:
            written.set_result(None)
        else:
            written.set_exception(error)


async def _isolate(conn: Connection, entry: Entry, exc: Exception) -> Exception | None:
    """Writes the record escaped; the error its check gets if even that is refused."""
    escaped = _escaped(entry)
    try:
        await _copy(conn, [escaped])
    except _RECORD_FAULTS as again:
        log.error("audit_record_refused", error=type(again).__name__, caller=escaped[0][1][:64])
        return _unavailable()
    log.warning("audit_record_isolated", written="escaped", error=type(exc).__name__, caller_note=escaped[0][2])
    return None


async def _copy(conn: Connection, entries: list[Entry]) -> None:
    rows = [row for row, _ in entries]
    trail = [t for _, rows_of_trail in entries for t in rows_of_trail]
    if not trail:  # an agency's checks: one statement, no transaction to open (the hot path)
        await conn.copy_records_to_table("enrollment_check_audit", records=rows, columns=COLUMNS)
        return
    async with conn.transaction():  # the check's record and the person's trail commit together
        await conn.copy_records_to_table("enrollment_check_audit", records=rows, columns=COLUMNS)
        await person_trail.copy_rows(conn, trail)


def _escaped(entry: Entry) -> Entry:
    """The record (and its trail rows) with every text field cut to a sane length and its unstorable
    characters escaped."""
    (at, caller, note, purpose, numbers, correlation_id), trail = entry
    row = (at, _text(caller), _text(note), _text(purpose), [_text(n) for n in numbers], _text(correlation_id))
    escaped_trail = [(_text(a), _text(b), _text(c), _text(d), _text(e), _text(f)) for a, b, c, d, e, f in trail]
    return row, escaped_trail


def _text(value: str) -> str:
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in value[:128])
