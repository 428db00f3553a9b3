"""Enrollments with their insurance years and evidence, and the per-person lock. Reads and writes only:
every decision (which states are open, who is 18, which years a stop cancels) arrives as a parameter
from the domain. Every query uses $n."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

from services.common.db import Connection
from services.common.money import Fen
from services.common.periods import DateRange
from services.registration.domain.coverage import GrantedCoverage
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    EnrollmentYear,
    Evidence,
    EvidenceKind,
    StopReason,
    WaitExemption,
    YearStatus,
)
from services.registration.domain.registration import YearAssessment

ENROLLMENT_COLUMNS = """enrollment_id, resident_id_number, name, phone, birth_date, region_code, school_code,
    category, state, sequence, rejection_reason, stop_reason, stop_note, stopped_at, stop_year, created_at,
    updated_at, wait_exemption_reason, wait_exemption_document"""
_YEAR_COLUMNS = """enrollment_id, insurance_year, status, coverage_start, coverage_end, payable_from, payable_until,
    window_start, window_end, newborn_current_year, policy_version, standard_fen, subsidy_fen, paid_by_payment_id,
    wait_free_until, paid_on, wait_months, covered_from"""


class EnrollmentsRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock_persons(self, numbers: Collection[str], now: dt.datetime) -> None:
        """Serialises every change about these persons (R8). Row locks taken in ID order, so two
        transactions locking overlapping sets cannot deadlock."""
        await self._conn.execute(
            """INSERT INTO persons (resident_id_number, first_seen_at)
               SELECT n, $2 FROM unnest($1::text[]) AS n ORDER BY n
               ON CONFLICT (resident_id_number) DO UPDATE SET resident_id_number = EXCLUDED.resident_id_number""",
            sorted(set(numbers)),
            now,
        )

    async def open_enrollments_of(self, numbers: Sequence[str]) -> dict[str, tuple[str, str]]:
        """resident_id_number → (enrollment_id, region_code) of each open enrollment among `numbers`."""
        rows = await self._conn.fetch(
            """SELECT open_resident_id, enrollment_id, region_code FROM enrollments
               WHERE open_resident_id = ANY($1::text[])""",
            list(numbers),
        )
        return {r["open_resident_id"]: (str(r["enrollment_id"]), r["region_code"]) for r in rows}

    async def years_with_status(self, numbers: Sequence[str], status: YearStatus) -> dict[str, set[int]]:
        """The insurance years in `status` of any enrollment of these persons, per person."""
        rows = await self._conn.fetch(
            """SELECT e.resident_id_number, y.insurance_year FROM enrollments e
               JOIN enrollment_years y USING (enrollment_id)
               WHERE e.resident_id_number = ANY($1::text[]) AND y.status = $2""",
            list(numbers),
            status.value,
        )
        found: dict[str, set[int]] = {}
        for r in rows:
            found.setdefault(r["resident_id_number"], set()).add(r["insurance_year"])
        return found

    async def get(self, enrollment_id: str, *, for_update: bool = False) -> Enrollment | None:
        try:
            key = uuid.UUID(enrollment_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE enrollment_id = $1{lock}", key
        )
        if row is None:
            return None
        return (await self.with_details([row], lock_years=for_update))[0]

    async def with_details(self, rows: Sequence[asyncpg.Record], *, lock_years: bool = False) -> list[Enrollment]:
        """Enrollments from their rows, with evidence and years read in two queries for all of them."""
        if not rows:
            return []
        ids = [r["enrollment_id"] for r in rows]
        evidence: dict[uuid.UUID, list[Evidence]] = {i: [] for i in ids}
        for e in await self._conn.fetch(
            """SELECT enrollment_id, kind, document_ref FROM enrollment_evidence
               WHERE enrollment_id = ANY($1::uuid[]) ORDER BY enrollment_id, position""",
            ids,
        ):
            evidence[e["enrollment_id"]].append(Evidence(EvidenceKind(e["kind"]), e["document_ref"]))
        years = await self.years_of_many(ids, for_update=lock_years)
        return [enrollment_from_row(r, tuple(evidence[r["enrollment_id"]]), years[r["enrollment_id"]]) for r in rows]

    async def years_of_many(
        self, ids: Sequence[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, tuple[EnrollmentYear, ...]]:
        lock = " FOR UPDATE" if for_update else ""
        found: dict[uuid.UUID, list[EnrollmentYear]] = {i: [] for i in ids}
        for r in await self._conn.fetch(
            f"""SELECT {_YEAR_COLUMNS} FROM enrollment_years WHERE enrollment_id = ANY($1::uuid[])
                ORDER BY enrollment_id, insurance_year{lock}""",
            list(ids),
        ):
            found[r["enrollment_id"]].append(_year(r))
        return {i: tuple(ys) for i, ys in found.items()}

    async def insert(self, enrollments: Sequence[Enrollment]) -> set[str]:
        """Inserts new enrollments with their evidence; returns the ids inserted. One that would give its
        person a second open enrollment is skipped (the unique index on open_resident_id, R8)."""
        if not enrollments:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO enrollments (enrollment_id, resident_id_number, name, phone, birth_date, region_code,
                   school_code, category, state, open_resident_id, sequence, created_at, updated_at,
                   wait_exemption_reason, wait_exemption_document)
               SELECT e.id, e.number, e.name, e.phone, e.birth, e.region, e.school, e.category, e.state, e.open,
                      e.sequence, $12, $12, e.exemption, e.exemption_document
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[],
                           $8::text[], $9::text[], $10::text[], $11::bigint[], $13::text[], $14::text[])
                    AS e(id, number, name, phone, birth, region, school, category, state, open, sequence, exemption,
                         exemption_document)
               ON CONFLICT (open_resident_id) DO NOTHING
               RETURNING enrollment_id""",
            [uuid.UUID(e.enrollment_id) for e in enrollments],
            [e.resident_id_number for e in enrollments],
            [e.name for e in enrollments],
            [e.phone for e in enrollments],
            [e.birth_date for e in enrollments],
            [e.region_code for e in enrollments],
            [e.school_code for e in enrollments],
            [e.category.value for e in enrollments],
            [e.state.value for e in enrollments],
            [e.open_resident_id for e in enrollments],
            [e.sequence for e in enrollments],
            enrollments[0].created_at,
            [e.wait_exemption.reason if e.wait_exemption else None for e in enrollments],
            [e.wait_exemption.document_ref if e.wait_exemption else None for e in enrollments],
        )
        inserted = {str(r["enrollment_id"]) for r in rows}
        evidence = [
            (uuid.UUID(e.enrollment_id), i, item.kind.value, item.document_ref)
            for e in enrollments
            if e.enrollment_id in inserted
            for i, item in enumerate(e.evidence)
        ]
        if evidence:
            await self._conn.copy_records_to_table(
                "enrollment_evidence", records=evidence, columns=["enrollment_id", "position", "kind", "document_ref"]
            )
        return inserted

    async def insert_years(self, pairs: Sequence[tuple[str, YearAssessment]]) -> set[str]:
        """Adds insurance years to enrollments; a year already present is left as it is. Returns the
        enrollments that really got a year."""
        if not pairs:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO enrollment_years (enrollment_id, insurance_year, status, coverage_start, coverage_end,
                   payable_from, payable_until, window_start, window_end, newborn_current_year, policy_version,
                   standard_fen, subsidy_fen, wait_free_until)
               SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::date[], $5::date[], $6::date[],
                   $7::date[], $8::date[], $9::date[], $10::bool[], $11::int[], $12::bigint[], $13::bigint[],
                   $14::date[])
               ON CONFLICT DO NOTHING RETURNING enrollment_id""",
            *_year_columns(pairs),
        )
        return {str(r["enrollment_id"]) for r in rows}

    async def save_state(self, enrollment: Enrollment, *, reviewed_by: str | None = None) -> None:
        """Writes an enrollment's state as the domain decided it (review, stop, age-out)."""
        await self._conn.execute(
            """UPDATE enrollments SET state = $2, open_resident_id = $3, sequence = $4, rejection_reason = $5,
                   stop_reason = $6, stop_note = $7, stopped_at = $8, stop_year = $9, updated_at = $10,
                   reviewed_by = COALESCE($11, reviewed_by),
                   reviewed_at = CASE WHEN $11::text IS NULL THEN reviewed_at ELSE $10 END
               WHERE enrollment_id = $1""",
            uuid.UUID(enrollment.enrollment_id),
            enrollment.state.value,
            enrollment.open_resident_id,
            enrollment.sequence,
            enrollment.rejection_reason,
            enrollment.stop_reason.value if enrollment.stop_reason else None,
            enrollment.stop_note,
            enrollment.stopped_at,
            enrollment.stop_year,
            enrollment.updated_at,
            reviewed_by,
        )

    async def set_years_uncovered(self, enrollment_id: str, years: Sequence[int], status: YearStatus) -> None:
        """Sets these years to an uncovered status (cancelled, or payable again after a refund); no
        payment covers them any more."""
        if not years:
            return
        await self._conn.execute(
            """UPDATE enrollment_years SET status = $3, paid_by_payment_id = NULL, covered_at = NULL, paid_on = NULL,
                   wait_months = 0, covered_from = NULL
               WHERE enrollment_id = $1 AND insurance_year = ANY($2::int[])""",
            uuid.UUID(enrollment_id),
            list(years),
            status.value,
        )

    async def set_year_covered(
        self, enrollment_id: str, year: int, payment_id: str, grant: GrantedCoverage, now: dt.datetime
    ) -> None:
        """Covers the year by this payment, from the day its wait ends (R37)."""
        await self._conn.execute(
            """UPDATE enrollment_years SET status = $3, paid_by_payment_id = $4, covered_at = $5, paid_on = $6,
                   wait_months = $7, covered_from = $8
               WHERE enrollment_id = $1 AND insurance_year = $2""",
            uuid.UUID(enrollment_id),
            year,
            YearStatus.COVERED.value,
            payment_id,
            now,
            grant.paid_on,
            grant.wait_months,
            grant.covered_from,
        )

    async def set_year_start(self, enrollment_id: str, year: int, wait_months: int, covered_from: dt.date) -> None:
        """Moves a granted year's coverage start after its wait was decided again (R38)."""
        await self._conn.execute(
            """UPDATE enrollment_years SET wait_months = $3, covered_from = $4
               WHERE enrollment_id = $1 AND insurance_year = $2""",
            uuid.UUID(enrollment_id),
            year,
            wait_months,
            covered_from,
        )

    async def of_person(self, number: str, *, for_update: bool = False) -> list[Enrollment]:
        """Every enrollment a person has held, in any region, with their years."""
        rows = await self._conn.fetch(
            f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE resident_id_number = $1 ORDER BY created_at",
            number,
        )
        return await self.with_details(rows, lock_years=for_update)

    async def bump_sequences(self, enrollment_ids: Sequence[str], now: dt.datetime) -> dict[str, int]:
        rows = await self._conn.fetch(
            """UPDATE enrollments SET sequence = sequence + 1, updated_at = $2
               WHERE enrollment_id = ANY($1::uuid[]) RETURNING enrollment_id, sequence""",
            [uuid.UUID(i) for i in enrollment_ids],
            now,
        )
        return {str(r["enrollment_id"]): int(r["sequence"]) for r in rows}


def _year_columns(pairs: Sequence[tuple[str, YearAssessment]]) -> list[list[Any]]:
    """enrollment_years columns, one array each, in table order, for an unnest insert."""
    return [
        [uuid.UUID(e) for e, _ in pairs],
        [y.insurance_year for _, y in pairs],
        [YearStatus.AWAITING_PAYMENT.value] * len(pairs),
        [y.coverage.start for _, y in pairs],
        [y.coverage.end for _, y in pairs],
        [y.payable.start for _, y in pairs],
        [y.payable.end for _, y in pairs],
        [y.collection_window.start for _, y in pairs],
        [y.collection_window.end for _, y in pairs],
        [y.newborn_current_year for _, y in pairs],
        [y.policy_version for _, y in pairs],
        [y.standard_fen for _, y in pairs],
        [y.subsidy_fen for _, y in pairs],
        [y.wait_free_until for _, y in pairs],
    ]


def _year(r: asyncpg.Record) -> EnrollmentYear:
    return EnrollmentYear(
        insurance_year=r["insurance_year"],
        status=YearStatus(r["status"]),
        coverage=DateRange(r["coverage_start"], r["coverage_end"]),
        payable=DateRange(r["payable_from"], r["payable_until"]),
        newborn_current_year=r["newborn_current_year"],
        policy_version=r["policy_version"],
        standard_fen=Fen(r["standard_fen"]),
        subsidy_fen=Fen(r["subsidy_fen"]),
        collection_window=DateRange(r["window_start"], r["window_end"]),
        paid_by_payment_id=r["paid_by_payment_id"],
        wait_free_until=r["wait_free_until"],
        paid_on=r["paid_on"],
        wait_months=r["wait_months"],
        covered_from=r["covered_from"],
    )


def enrollment_from_row(
    r: asyncpg.Record, evidence: tuple[Evidence, ...] = (), years: tuple[EnrollmentYear, ...] = ()
) -> Enrollment:
    return Enrollment(
        enrollment_id=str(r["enrollment_id"]),
        resident_id_number=r["resident_id_number"],
        name=r["name"],
        phone=r["phone"],
        birth_date=r["birth_date"],
        region_code=r["region_code"],
        school_code=r["school_code"],
        category=Category(r["category"]),
        state=EnrollmentState(r["state"]),
        sequence=r["sequence"],
        evidence=evidence,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        years=years,
        rejection_reason=r["rejection_reason"],
        stop_reason=StopReason(r["stop_reason"]) if r["stop_reason"] else None,
        stop_note=r["stop_note"],
        stopped_at=r["stopped_at"],
        stop_year=r["stop_year"],
        wait_exemption=WaitExemption(r["wait_exemption_reason"], r["wait_exemption_document"] or "")
        if r["wait_exemption_reason"]
        else None,
    )
