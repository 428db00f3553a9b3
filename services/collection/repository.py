"""SQL for the tax database. Every query uses $n parameters."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import asyncpg
import orjson

from services.collection.domain.assessment import Assessment
from services.collection.domain.model import (
    Channel,
    EnrollmentState,
    FeeType,
    InsuredPerson,
    ItemStatus,
    PayableItem,
    PaymentOutcome,
)
from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange

Record = asyncpg.Record

ITEM_COLUMNS = """i.payable_item_id, i.enrollment_id, i.resident_id_number, p.name AS insured_name, i.region_code,
    i.category, i.insurance_year, i.fee_type, i.standard_fen, i.subsidy_fen, i.amount_fen, i.status,
    i.policy_version, i.window_start, i.window_end, i.payable_until, i.coverage_start, i.coverage_end,
    i.newborn_current_year, i.paid_by_payment_id, i.channel_opens,
    (SELECT l.order_id FROM order_lines l WHERE l.payable_item_id = i.payable_item_id AND l.holds_item)
        AS pending_order_id"""


class CollectionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- persons and enrollments --------------------------------------------------------------

    async def upsert_person(self, person: InsuredPerson, now: dt.datetime) -> None:
        await self._conn.execute(
            """INSERT INTO insured_persons (resident_id_number, name, birth_date, updated_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (resident_id_number) DO UPDATE SET name = EXCLUDED.name, updated_at = EXCLUDED.updated_at""",
            person.resident_id_number,
            person.name,
            person.birth_date,
            now,
        )

    async def get_person(self, number: str) -> InsuredPerson | None:
        row = await self._conn.fetchrow(
            "SELECT resident_id_number, name, birth_date FROM insured_persons WHERE resident_id_number = $1", number
        )
        return InsuredPerson(row["resident_id_number"], row["name"], row["birth_date"]) if row else None

    async def lock_enrollment_ref(self, enrollment_id: str) -> Record | None:
        return await self._conn.fetchrow(
            "SELECT state, last_sequence FROM enrollment_refs WHERE enrollment_id = $1 FOR UPDATE",
            uuid.UUID(enrollment_id),
        )

    async def save_enrollment_ref(
        self,
        enrollment_id: str,
        number: str,
        region_code: str,
        category: str,
        state: EnrollmentState,
        sequence: int,
        now: dt.datetime,
    ) -> None:
        await self._conn.execute(
            """INSERT INTO enrollment_refs (enrollment_id, resident_id_number, region_code, category, state,
                   last_sequence, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (enrollment_id) DO UPDATE SET state = EXCLUDED.state,
                   last_sequence = GREATEST(enrollment_refs.last_sequence, EXCLUDED.last_sequence),
                   category = CASE WHEN EXCLUDED.category = '' THEN enrollment_refs.category
                                   ELSE EXCLUDED.category END,
                   updated_at = EXCLUDED.updated_at""",
            uuid.UUID(enrollment_id),
            number,
            region_code,
            category,
            state.value,
            sequence,
            now,
        )

    # -- payable items ------------------------------------------------------------------------

    async def insert_items(
        self,
        enrollment_id: str,
        person: InsuredPerson,
        region_code: str,
        category: str,
        assessments: Sequence[tuple[str, Assessment, str | None]],
        now: dt.datetime,
    ) -> set[str]:
        """Inserts (item id, assessment, subsidy payment id) rows; returns the ids inserted. An item
        for the same enrollment/year/fee type, or a live item for the same person/year/fee type,
        already exists → skipped."""
        if not assessments:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO payable_items (payable_item_id, enrollment_id, resident_id_number, region_code, category,
                   insurance_year, fee_type, standard_fen, subsidy_fen, amount_fen, status, policy_version,
                   window_start, window_end, payable_until, coverage_start, coverage_end, newborn_current_year,
                   paid_by_payment_id, created_at, updated_at, channel_opens)
               SELECT a.id, $2, $3, $4, $5, a.year, a.fee_type, a.standard, a.subsidy, a.amount, a.status, a.version,
                      a.window_start, a.window_end, a.payable_until, a.coverage_start, a.coverage_end, a.newborn,
                      a.paid_by, $6, $6, a.opens::jsonb
               FROM unnest($1::uuid[], $7::int[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[],
                           $12::text[], $13::int[], $14::date[], $15::date[], $16::date[], $17::date[], $18::date[],
                           $19::bool[], $20::uuid[], $21::text[])
                    AS a(id, year, fee_type, standard, subsidy, amount, status, version, window_start, window_end,
                         payable_until, coverage_start, coverage_end, newborn, paid_by, opens)
               ON CONFLICT DO NOTHING
               RETURNING payable_item_id""",
            [uuid.UUID(i) for i, _, _ in assessments],
            uuid.UUID(enrollment_id),
            person.resident_id_number,
            region_code,
            category,
            now,
            [a.basis.insurance_year for _, a, _ in assessments],
            [a.basis.fee_type.value for _, a, _ in assessments],
            [a.basis.standard_fen for _, a, _ in assessments],
            [a.basis.subsidy_fen for _, a, _ in assessments],
            [a.amount_fen for _, a, _ in assessments],
            [a.status.value for _, a, _ in assessments],
            [a.basis.policy_version for _, a, _ in assessments],
            [a.basis.collection_window.start for _, a, _ in assessments],
            [a.basis.collection_window.end for _, a, _ in assessments],
            [a.basis.payable_until for _, a, _ in assessments],
            [a.basis.coverage.start for _, a, _ in assessments],
            [a.basis.coverage.end for _, a, _ in assessments],
            [a.basis.newborn_current_year for _, a, _ in assessments],
            [uuid.UUID(p) if p else None for _, _, p in assessments],
            [orjson.dumps({c: d.isoformat() for c, d in a.basis.channel_opens}).decode() for _, a, _ in assessments],
        )
        return {str(r["payable_item_id"]) for r in rows}

    async def live_items_of_others(
        self, enrollment_id: str, number: str, keys: Sequence[tuple[int, FeeType]]
    ) -> dict[tuple[int, FeeType], tuple[str, ItemStatus]]:
        """Live (not cancelled) items of this person for these years and fee types that belong to another
        enrollment: (year, fee type) → (enrollment id, status)."""
        rows = await self._conn.fetch(
            """SELECT insurance_year, fee_type, enrollment_id, status FROM payable_items
               WHERE resident_id_number = $1 AND enrollment_id <> $2 AND status <> $5
                 AND (insurance_year, fee_type) IN (SELECT * FROM unnest($3::int[], $4::text[]))""",
            number,
            uuid.UUID(enrollment_id),
            [y for y, _ in keys],
            [f.value for _, f in keys],
            ItemStatus.CANCELLED.value,
        )
        return {
            (r["insurance_year"], FeeType(r["fee_type"])): (str(r["enrollment_id"]), ItemStatus(r["status"]))
            for r in rows
        }

    async def cancel_unpaid_items(self, enrollment_id: str, now: dt.datetime) -> list[str]:
        """Cancels the enrollment's unpaid items and releases them from pending orders (R11)."""
        rows = await self._conn.fetch(
            """UPDATE payable_items SET status = $3, updated_at = $2
               WHERE enrollment_id = $1 AND status = $4 RETURNING payable_item_id""",
            uuid.UUID(enrollment_id),
            now,
            ItemStatus.CANCELLED.value,
            ItemStatus.UNPAID.value,
        )
        ids = [r["payable_item_id"] for r in rows]
        if ids:
            await self._conn.execute(
                "UPDATE order_lines SET holds_item = false WHERE payable_item_id = ANY($1::uuid[]) AND holds_item", ids
            )
        return [str(i) for i in ids]

    async def items_of_person(
        self, number: str, *, include_settled: bool, after: tuple[int, str, str] | None, limit: int
    ) -> tuple[str, list[PayableItem]] | None:
        """The person's name and a page of their items, in one statement; None for no such person."""
        after_year, after_fee, after_id = after or (0, "", str(uuid.UUID(int=0)))
        rows = await self._conn.fetch(
            f"""SELECT p.name AS person_name, listed.* FROM insured_persons p
                LEFT JOIN LATERAL (
                    SELECT {ITEM_COLUMNS} FROM payable_items i JOIN insured_persons p USING (resident_id_number)
                    WHERE i.resident_id_number = $1 AND ($2 OR i.status = $7)
                      AND (i.insurance_year, i.fee_type, i.payable_item_id) > ($3, $4, $5::uuid)
                    ORDER BY i.insurance_year, i.fee_type, i.payable_item_id LIMIT $6) listed ON true
                WHERE p.resident_id_number = $1
                ORDER BY listed.insurance_year, listed.fee_type, listed.payable_item_id""",
            number,
            include_settled,
            after_year,
            after_fee,
            uuid.UUID(after_id),
            limit,
            ItemStatus.UNPAID.value,
        )
        if not rows:
            return None
        return rows[0]["person_name"], [item_from_row(r) for r in rows if r["payable_item_id"] is not None]

    async def unpaid_items_of(self, numbers: Sequence[str], year: int, fee_type: FeeType) -> dict[str, PayableItem]:
        """Each person's unpaid item of the year and fee type, if any."""
        rows = await self._conn.fetch(
            f"""SELECT {ITEM_COLUMNS} FROM payable_items i JOIN insured_persons p USING (resident_id_number)
                WHERE i.resident_id_number = ANY($1::text[]) AND i.insurance_year = $2 AND i.fee_type = $3
                  AND i.status = $4""",
            list(numbers),
            year,
            fee_type.value,
            ItemStatus.UNPAID.value,
        )
        return {r["resident_id_number"]: item_from_row(r) for r in rows}

    async def names_of(self, numbers: Sequence[str]) -> dict[str, str]:
        rows = await self._conn.fetch(
            "SELECT resident_id_number, name FROM insured_persons WHERE resident_id_number = ANY($1::text[])",
            list(numbers),
        )
        return {r["resident_id_number"]: r["name"] for r in rows}

    async def insert_subsidy_payment(
        self, payment_id: str, item_id: str, paid_at: dt.datetime, now: dt.datetime
    ) -> None:
        """Records the settlement of a fully subsidised item as a zero-amount payment (R17)."""
        await self._conn.execute(
            """INSERT INTO payments (payment_id, channel, channel_transaction_id, amount_fen, paid_at, outcome,
                   created_at)
               VALUES ($1, $5, 'subsidy:' || $2::text, 0, $3, $6, $4)""",
            uuid.UUID(payment_id),
            str(uuid.UUID(item_id)),  # `$2::text`: asyncpg sends a text parameter only from a str
            paid_at,
            now,
            Channel.SUBSIDY.value,
            PaymentOutcome.SUBSIDY.value,
        )
        await self._conn.execute(
            "INSERT INTO payment_items (payment_id, payable_item_id, amount_fen) VALUES ($1, $2, 0)",
            uuid.UUID(payment_id),
            uuid.UUID(item_id),
        )


def item_from_row(r: Record) -> PayableItem:
    return PayableItem(
        payable_item_id=str(r["payable_item_id"]),
        enrollment_id=str(r["enrollment_id"]),
        resident_id_number=r["resident_id_number"],
        insured_name=r["insured_name"],
        region_code=r["region_code"],
        category=r["category"],
        insurance_year=r["insurance_year"],
        fee_type=FeeType(r["fee_type"]),
        standard_fen=Fen(r["standard_fen"]),
        subsidy_fen=Fen(r["subsidy_fen"]),
        amount_fen=Fen(r["amount_fen"]),
        status=ItemStatus(r["status"]),
        policy_version=r["policy_version"],
        collection_window=DateRange(r["window_start"], r["window_end"]),
        payable_until=r["payable_until"],
        coverage=DateRange(r["coverage_start"], r["coverage_end"]),
        newborn_current_year=r["newborn_current_year"],
        paid_by_payment_id=str(r["paid_by_payment_id"]) if r["paid_by_payment_id"] else None,
        pending_order_id=str(r["pending_order_id"]) if r["pending_order_id"] else None,
        channel_opens=tuple(sorted((c, dt.date.fromisoformat(d)) for c, d in r["channel_opens"].items())),
    )
