"""SQL for unpaid reminder rounds (R29)."""

from __future__ import annotations

import datetime as dt
import uuid

from services.collection.domain.model import ItemStatus
from services.collection.domain.reminders import PendingReminder, ReminderStatus, Window
from services.collection.sql_literals import state_literal
from services.common.db import Connection
from services.common.money import Fen


class RemindersRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def open_windows(self, today: dt.date) -> list[Window]:
        """Windows not closed yet that still have unpaid items."""
        rows = await self._conn.fetch(
            """SELECT DISTINCT region_code, insurance_year, window_end FROM payable_items
               WHERE status = $2 AND window_end >= $1""",
            today,
            ItemStatus.UNPAID.value,
        )
        return [Window(r["region_code"], r["insurance_year"], r["window_end"]) for r in rows]

    async def start_round(self, window: Window, days_before: int, now: dt.datetime) -> int:
        """Creates the round and its reminders (one per person with unpaid items) unless it exists;
        returns how many reminders it created."""
        round_id = await self._conn.fetchval(
            """INSERT INTO reminder_rounds (round_id, region_code, insurance_year, window_end, days_before, created_at)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING round_id""",
            uuid.uuid4(),
            window.region_code,
            window.insurance_year,
            window.window_end,
            days_before,
            now,
        )
        if round_id is None:
            return 0
        created = await self._conn.fetch(
            """INSERT INTO reminders (reminder_id, round_id, resident_id_number, unpaid_fen, status)
               SELECT gen_random_uuid(), $1, resident_id_number, sum(amount_fen)::bigint, $5::text FROM payable_items
               WHERE region_code = $2 AND insurance_year = $3 AND window_end = $4 AND status = $6
               GROUP BY resident_id_number
               ON CONFLICT DO NOTHING RETURNING 1""",
            round_id,
            window.region_code,
            window.insurance_year,
            window.window_end,
            ReminderStatus.PENDING.value,
            ItemStatus.UNPAID.value,
        )
        return len(created)

    async def lock_next_pending(self) -> PendingReminder | None:
        """One pending reminder no other sender holds, with what the person still owes now. The window
        that closes first goes first: a large round never holds back one that is more urgent."""
        # The pending state as a literal, so that the partial index reminders_pending serves (sql_literals).
        row = await self._conn.fetchrow(
            f"""SELECT m.reminder_id, m.resident_id_number, p.name, r.region_code, r.insurance_year, r.window_end,
                      (SELECT COALESCE(sum(i.amount_fen), 0)::bigint FROM payable_items i
                       WHERE i.resident_id_number = m.resident_id_number AND i.region_code = r.region_code
                         AND i.insurance_year = r.insurance_year AND i.status = $1) AS unpaid_fen
               FROM reminders m JOIN reminder_rounds r USING (round_id)
               JOIN insured_persons p ON p.resident_id_number = m.resident_id_number
               WHERE m.status = {state_literal(ReminderStatus.PENDING)}
               ORDER BY r.window_end, m.round_id, m.resident_id_number
               LIMIT 1 FOR UPDATE OF m SKIP LOCKED""",
            ItemStatus.UNPAID.value,
        )
        if row is None:
            return None
        return PendingReminder(
            str(row["reminder_id"]),
            row["resident_id_number"],
            row["name"],
            row["region_code"],
            row["insurance_year"],
            row["window_end"],
            Fen(int(row["unpaid_fen"])),
        )

    async def finish(self, reminder_id: str, status: ReminderStatus, now: dt.datetime) -> None:
        await self._conn.execute(
            "UPDATE reminders SET status = $2, sent_at = $3 WHERE reminder_id = $1",
            uuid.UUID(reminder_id),
            status.value,
            now,
        )
