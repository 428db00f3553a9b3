"""SQL for the insurance database's registration tables. Every query uses $n parameters."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from services.common.db import Connection
from services.common.money import Fen
from services.registration.domain.model import (
    Category,
    DateRange,
    Enrollment,
    EnrollmentState,
    EnrollmentYear,
    Evidence,
    EvidenceKind,
    ExternalEnrollment,
    Region,
    RegionPolicy,
    ReviewMode,
    Scheme,
    School,
    StopReason,
    YearStatus,
)
from services.registration.domain.registration import YearAssessment

Record = asyncpg.Record


class RegistrationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- regions and schools ------------------------------------------------------------------

    async def get_region(self, code: str) -> Region | None:
        row = await self._conn.fetchrow("SELECT region_code, name FROM regions WHERE region_code = $1", code)
        return Region(row["region_code"], row["name"]) if row else None

    async def insert_region(self, region: Region, now: dt.datetime) -> bool:
        """False when a region with that code exists."""
        inserted = await self._conn.fetchval(
            """INSERT INTO regions (region_code, name, created_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            region.code,
            region.name,
            now,
        )
        return bool(inserted)

    async def list_regions(self, after: str | None, limit: int) -> list[Region]:
        rows = await self._conn.fetch(
            "SELECT region_code, name FROM regions WHERE region_code > $1 ORDER BY region_code LIMIT $2",
            after or "",
            limit,
        )
        return [Region(r["region_code"], r["name"]) for r in rows]

    async def get_school(self, code: str) -> School | None:
        row = await self._conn.fetchrow(
            "SELECT school_code, name, region_code FROM schools WHERE school_code = $1", code
        )
        return School(row["school_code"], row["name"], row["region_code"]) if row else None

    async def insert_school(self, school: School, now: dt.datetime) -> bool:
        inserted = await self._conn.fetchval(
            """INSERT INTO schools (school_code, name, region_code, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING true""",
            school.code,
            school.name,
            school.region_code,
            now,
        )
        return bool(inserted)

    async def list_schools(self, region_code: str, after: str | None, limit: int) -> list[School]:
        rows = await self._conn.fetch(
            """SELECT school_code, name, region_code FROM schools
               WHERE region_code = $1 AND school_code > $2 ORDER BY school_code LIMIT $3""",
            region_code,
            after or "",
            limit,
        )
        return [School(r["school_code"], r["name"], r["region_code"]) for r in rows]

    # -- policies -----------------------------------------------------------------------------

    _POLICY_COLUMNS = """p.region_code, p.insurance_year, p.version, p.individual_standard_fen,
        p.fiscal_subsidy_fen, p.newborn_standard_fen, p.window_start, p.window_end, p.benefit_start,
        p.benefit_end, p.review_mode, p.demo_data, p.created_at,
        COALESCE((SELECT jsonb_object_agg(s.category, s.subsidy_fen) FROM region_policy_subsidies s
                  WHERE (s.region_code, s.insurance_year, s.version)
                      = (p.region_code, p.insurance_year, p.version)), '{}'::jsonb) AS subsidies"""

    async def current_policies(self, region_code: str) -> dict[int, RegionPolicy]:
        """The latest version of each insurance year of a region."""
        rows = await self._conn.fetch(
            f"""SELECT DISTINCT ON (p.insurance_year) {self._POLICY_COLUMNS}
                FROM region_policies p WHERE p.region_code = $1
                ORDER BY p.insurance_year, p.version DESC""",
            region_code,
        )
        return {r["insurance_year"]: _policy(r) for r in rows}

    async def current_policies_of(self, region_codes: Sequence[str]) -> dict[str, dict[int, RegionPolicy]]:
        rows = await self._conn.fetch(
            f"""SELECT DISTINCT ON (p.region_code, p.insurance_year) {self._POLICY_COLUMNS}
                FROM region_policies p WHERE p.region_code = ANY($1::text[])
                ORDER BY p.region_code, p.insurance_year, p.version DESC""",
            list(region_codes),
        )
        found: dict[str, dict[int, RegionPolicy]] = {code: {} for code in region_codes}
        for r in rows:
            found[r["region_code"]][r["insurance_year"]] = _policy(r)
        return found

    async def get_policy(self, region_code: str, year: int, version: int) -> RegionPolicy | None:
        """A specific version, or the current one when version is 0."""
        row = await self._conn.fetchrow(
            f"""SELECT {self._POLICY_COLUMNS} FROM region_policies p
                WHERE p.region_code = $1 AND p.insurance_year = $2 AND ($3 = 0 OR p.version = $3)
                ORDER BY p.version DESC LIMIT 1""",
            region_code,
            year,
            version,
        )
        return _policy(row) if row else None

    async def insert_policy_version(self, policy: RegionPolicy, now: dt.datetime) -> RegionPolicy:
        """Stores the policy as the next version of its region and year."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('region_policy:' || $1 || ':' || ($2::int)::text))",
            policy.region_code,
            policy.insurance_year,
        )
        version = await self._conn.fetchval(
            """SELECT COALESCE(max(version), 0) + 1 FROM region_policies
               WHERE region_code = $1 AND insurance_year = $2""",
            policy.region_code,
            policy.insurance_year,
        )
        await self._conn.execute(
            """INSERT INTO region_policies (region_code, insurance_year, version, individual_standard_fen,
                   fiscal_subsidy_fen, newborn_standard_fen, window_start, window_end, benefit_start,
                   benefit_end, review_mode, demo_data, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
            policy.region_code,
            policy.insurance_year,
            version,
            policy.individual_standard_fen,
            policy.fiscal_subsidy_fen,
            policy.newborn_standard_fen,
            policy.collection_window.start,
            policy.collection_window.end,
            policy.benefit_period.start,
            policy.benefit_period.end,
            policy.review_mode.value,
            policy.demo_data,
            now,
        )
        await self._conn.executemany(
            """INSERT INTO region_policy_subsidies (region_code, insurance_year, version, category, subsidy_fen)
               VALUES ($1, $2, $3, $4, $5)""",
            [
                (policy.region_code, policy.insurance_year, version, category.value, fen)
                for category, fen in sorted(policy.category_subsidies.items())
            ],
        )
        stored = await self.get_policy(policy.region_code, policy.insurance_year, version)
        assert stored is not None
        return stored

    async def list_current_policies(
        self, region_code: str, after: tuple[str, int] | None, limit: int
    ) -> list[RegionPolicy]:
        after_region, after_year = after or ("", 0)
        rows = await self._conn.fetch(
            f"""SELECT DISTINCT ON (p.region_code, p.insurance_year) {self._POLICY_COLUMNS}
                FROM region_policies p
                WHERE ($1 = '' OR p.region_code = $1) AND (p.region_code, p.insurance_year) > ($2, $3)
                ORDER BY p.region_code, p.insurance_year, p.version DESC LIMIT $4""",
            region_code,
            after_region,
            after_year,
            limit,
        )
        return [_policy(r) for r in rows]

    # -- enrollments --------------------------------------------------------------------------

    async def lock_person(self, resident_id_number: str) -> None:
        """Serialises changes about one person (registration vs. a concurrent external record)."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('person:' || $1))", resident_id_number)

    async def find_open_enrollment(self, resident_id_number: str) -> Enrollment | None:
        row = await self._conn.fetchrow(
            f"""SELECT {_ENROLLMENT_COLUMNS} FROM enrollments
                WHERE resident_id_number = $1 AND state IN ('PENDING_REVIEW', 'ACTIVE')""",
            resident_id_number,
        )
        return await self._with_details(row) if row else None

    async def open_enrollments_of(self, numbers: Sequence[str]) -> dict[str, tuple[str, str]]:
        """resident_id_number → (enrollment_id, region_code) of each open enrollment among `numbers`."""
        rows = await self._conn.fetch(
            """SELECT resident_id_number, enrollment_id, region_code FROM enrollments
               WHERE resident_id_number = ANY($1::text[]) AND state IN ('PENDING_REVIEW', 'ACTIVE')""",
            list(numbers),
        )
        return {r["resident_id_number"]: (str(r["enrollment_id"]), r["region_code"]) for r in rows}

    async def get_enrollment(self, enrollment_id: str, *, for_update: bool = False) -> Enrollment | None:
        try:
            key = uuid.UUID(enrollment_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_ENROLLMENT_COLUMNS} FROM enrollments WHERE enrollment_id = $1{lock}", key
        )
        return await self._with_details(row) if row else None

    async def _with_details(self, row: Record) -> Enrollment:
        evidence = await self._conn.fetch(
            "SELECT kind, document_ref FROM enrollment_evidence WHERE enrollment_id = $1 ORDER BY position",
            row["enrollment_id"],
        )
        years = await self.years_of(str(row["enrollment_id"]))
        return _enrollment(row, tuple(Evidence(EvidenceKind(e["kind"]), e["document_ref"]) for e in evidence), years)

    async def years_of(self, enrollment_id: str, *, for_update: bool = False) -> tuple[EnrollmentYear, ...]:
        lock = " FOR UPDATE" if for_update else ""
        rows = await self._conn.fetch(
            f"""SELECT {_YEAR_COLUMNS} FROM enrollment_years WHERE enrollment_id = $1
                ORDER BY insurance_year{lock}""",
            uuid.UUID(enrollment_id),
        )
        return tuple(_year(r) for r in rows)

    async def insert_enrollment(self, enrollment: Enrollment, *, batch: tuple[str, int] | None = None) -> bool:
        """False when the person already has an open enrollment (the partial unique index)."""
        inserted = await self._conn.fetchval(
            """INSERT INTO enrollments (enrollment_id, resident_id_number, name, phone, birth_date, region_code,
                   school_code, category, state, sequence, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
               ON CONFLICT (resident_id_number) WHERE state IN ('PENDING_REVIEW', 'ACTIVE') DO NOTHING
               RETURNING true""",
            uuid.UUID(enrollment.enrollment_id),
            enrollment.resident_id_number,
            enrollment.name,
            enrollment.phone,
            enrollment.birth_date,
            enrollment.region_code,
            enrollment.school_code,
            enrollment.category.value,
            enrollment.state.value,
            enrollment.sequence,
            enrollment.created_at,
        )
        if not inserted:
            return False
        await self._conn.executemany(
            "INSERT INTO enrollment_evidence (enrollment_id, position, kind, document_ref) VALUES ($1, $2, $3, $4)",
            [
                (uuid.UUID(enrollment.enrollment_id), i, e.kind.value, e.document_ref)
                for i, e in enumerate(enrollment.evidence)
            ],
        )
        return True

    async def insert_enrollments(self, enrollments: Sequence[Enrollment]) -> set[str]:
        """Bulk insert for batch registration; returns the ids actually inserted (others had an open
        enrollment created concurrently)."""
        if not enrollments:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO enrollments (enrollment_id, resident_id_number, name, phone, birth_date, region_code,
                   school_code, category, state, sequence, created_at, updated_at)
               SELECT e.id, e.number, e.name, e.phone, e.birth, e.region, e.school, e.category, e.state, 1, $9, $9
               FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[], $7::text[],
                           $8::text[], $10::text[])
                    AS e(id, number, name, phone, birth, region, school, category, state)
               ON CONFLICT (resident_id_number) WHERE state IN ('PENDING_REVIEW', 'ACTIVE') DO NOTHING
               RETURNING enrollment_id""",
            [uuid.UUID(e.enrollment_id) for e in enrollments],
            [e.resident_id_number for e in enrollments],
            [e.name for e in enrollments],
            [e.phone for e in enrollments],
            [e.birth_date for e in enrollments],
            [e.region_code for e in enrollments],
            [e.school_code for e in enrollments],
            [e.category.value for e in enrollments],
            enrollments[0].created_at,
            [e.state.value for e in enrollments],
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

    async def insert_years(self, enrollment_id: str, years: Iterable[YearAssessment]) -> None:
        await self.insert_years_of([(enrollment_id, y) for y in years])

    async def insert_years_of(self, pairs: Sequence[tuple[str, YearAssessment]]) -> None:
        """Adds insurance years to enrollments; a year already present is left as it is."""
        if not pairs:
            return
        await self._conn.execute(
            """INSERT INTO enrollment_years (enrollment_id, insurance_year, status, coverage_start, coverage_end,
                   payable_from, payable_until, window_start, window_end, newborn_current_year, policy_version,
                   standard_fen, subsidy_fen)
               SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::date[], $5::date[], $6::date[],
                   $7::date[], $8::date[], $9::date[], $10::bool[], $11::int[], $12::bigint[], $13::bigint[])
               ON CONFLICT DO NOTHING""",
            *_year_columns(pairs),
        )

    async def set_reviewed(
        self, enrollment_id: str, state: EnrollmentState, officer: str, reason: str | None, now: dt.datetime
    ) -> None:
        await self._conn.execute(
            """UPDATE enrollments SET state = $2, reviewed_by = $3, reviewed_at = $5, rejection_reason = $4,
                   sequence = sequence + 1, updated_at = $5
               WHERE enrollment_id = $1""",
            uuid.UUID(enrollment_id),
            state.value,
            officer,
            reason,
            now,
        )

    async def set_stopped(
        self,
        enrollment_id: str,
        state: EnrollmentState,
        reason: StopReason,
        note: str | None,
        now: dt.datetime,
        stop_year: int,
    ) -> None:
        """Stops the enrollment and cancels its unpaid years; paid years stay covered."""
        await self._conn.execute(
            """UPDATE enrollments SET state = $2, stop_reason = $3, stop_note = $4, stopped_at = $5,
                   stop_year = $6, sequence = sequence + 1, updated_at = $5
               WHERE enrollment_id = $1""",
            uuid.UUID(enrollment_id),
            state.value,
            reason.value,
            note,
            now,
            stop_year,
        )
        await self._conn.execute(
            "UPDATE enrollment_years SET status = 'CANCELLED' WHERE enrollment_id = $1 AND status = 'AWAITING_PAYMENT'",
            uuid.UUID(enrollment_id),
        )

    async def set_year_covered(self, enrollment_id: str, year: int, payment_id: str, now: dt.datetime) -> None:
        await self._conn.execute(
            """UPDATE enrollment_years SET status = 'COVERED', paid_by_payment_id = $3, covered_at = $4
               WHERE enrollment_id = $1 AND insurance_year = $2""",
            uuid.UUID(enrollment_id),
            year,
            payment_id,
            now,
        )

    async def set_year_uncovered(self, enrollment_id: str, year: int, status: str) -> None:
        await self._conn.execute(
            """UPDATE enrollment_years SET status = $3, paid_by_payment_id = NULL, covered_at = NULL
               WHERE enrollment_id = $1 AND insurance_year = $2""",
            uuid.UUID(enrollment_id),
            year,
            status,
        )

    async def list_enrollments(
        self, region_code: str, state: EnrollmentState | None, after: tuple[str, str] | None, limit: int
    ) -> list[Enrollment]:
        rows = await self._conn.fetch(
            f"""SELECT {_ENROLLMENT_COLUMNS} FROM enrollments
                WHERE region_code = $1 AND ($2::text IS NULL OR state = $2)
                  AND ($3::timestamptz IS NULL OR (created_at, enrollment_id) > ($3::timestamptz, $4::uuid))
                ORDER BY created_at, enrollment_id LIMIT $5""",
            region_code,
            state.value if state else None,
            dt.datetime.fromisoformat(after[0]) if after else None,
            uuid.UUID(after[1]) if after else None,
            limit,
        )
        return [await self._with_details(r) for r in rows]

    async def list_aged_out(self, region_code: str, year: int, after: str | None, limit: int) -> list[Enrollment]:
        rows = await self._conn.fetch(
            f"""SELECT {_ENROLLMENT_COLUMNS} FROM enrollments
                WHERE state = 'AGED_OUT' AND region_code = $1 AND stop_year = $2 AND enrollment_id > $3::uuid
                ORDER BY enrollment_id LIMIT $4""",
            region_code,
            year,
            uuid.UUID(after or str(uuid.UUID(int=0))),
            limit,
        )
        return [await self._with_details(r) for r in rows]

    async def regions_with_windows_open(self, today: dt.date) -> dict[str, list[RegionPolicy]]:
        """Current policies of every region with a collection window open today."""
        rows = await self._conn.fetch(
            """SELECT DISTINCT region_code FROM region_policies WHERE window_start <= $1 AND window_end >= $1""", today
        )
        policies = await self.current_policies_of([r["region_code"] for r in rows])
        return {code: list(by_year.values()) for code, by_year in policies.items()}

    async def lock_due_for_year(self, region_code: str, year: int, today: dt.date, limit: int) -> list[Enrollment]:
        """Active enrollments of the region not yet carried into `year` (minors already 18 are left to
        the age-out), locked; rows another worker holds are skipped."""
        rows = await self._conn.fetch(
            f"""SELECT {_ENROLLMENT_COLUMNS} FROM enrollments e
                WHERE e.region_code = $1 AND e.state = 'ACTIVE'
                  AND NOT EXISTS (SELECT 1 FROM enrollment_years y
                                  WHERE y.enrollment_id = e.enrollment_id AND y.insurance_year = $2)
                  AND NOT (e.category IN ('MINOR', 'NEWBORN') AND e.birth_date <= $3)
                ORDER BY e.enrollment_id LIMIT $4 FOR UPDATE SKIP LOCKED""",
            region_code,
            year,
            adult_birth_cutoff(today),
            limit,
        )
        return [_enrollment(r, (), ()) for r in rows]

    async def lock_aged_out(self, today: dt.date, limit: int) -> list[Enrollment]:
        """Active minors who are 18 by `today`, locked; rows another worker holds are skipped."""
        rows = await self._conn.fetch(
            f"""SELECT {_ENROLLMENT_COLUMNS} FROM enrollments
                WHERE state = 'ACTIVE' AND category IN ('MINOR', 'NEWBORN') AND birth_date <= $1
                ORDER BY enrollment_id LIMIT $2 FOR UPDATE SKIP LOCKED""",
            adult_birth_cutoff(today),
            limit,
        )
        return [_enrollment(r, (), ()) for r in rows]

    async def insert_years_returning(self, pairs: Sequence[tuple[str, YearAssessment]]) -> set[str]:
        """Adds the years; returns the enrollments that really got one (not already carried)."""
        if not pairs:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO enrollment_years (enrollment_id, insurance_year, status, coverage_start, coverage_end,
                   payable_from, payable_until, window_start, window_end, newborn_current_year, policy_version,
                   standard_fen, subsidy_fen)
               SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::date[], $5::date[], $6::date[],
                   $7::date[], $8::date[], $9::date[], $10::bool[], $11::int[], $12::bigint[], $13::bigint[])
               ON CONFLICT DO NOTHING RETURNING enrollment_id""",
            *_year_columns(pairs),
        )
        return {str(r["enrollment_id"]) for r in rows}

    async def bump_sequences(self, enrollment_ids: Sequence[str], now: dt.datetime) -> dict[str, int]:
        rows = await self._conn.fetch(
            """UPDATE enrollments SET sequence = sequence + 1, updated_at = $2
               WHERE enrollment_id = ANY($1::uuid[]) RETURNING enrollment_id, sequence""",
            [uuid.UUID(i) for i in enrollment_ids],
            now,
        )
        return {str(r["enrollment_id"]): int(r["sequence"]) for r in rows}

    # -- external enrollments -----------------------------------------------------------------

    async def active_external(self, resident_id_number: str) -> list[ExternalEnrollment]:
        rows = await self._conn.fetch(
            f"""SELECT {_EXTERNAL_COLUMNS} FROM external_enrollments
                WHERE resident_id_number = $1 AND active ORDER BY created_at""",
            resident_id_number,
        )
        return [_external(r) for r in rows]

    async def active_external_of(self, numbers: Sequence[str]) -> dict[str, ExternalEnrollment]:
        rows = await self._conn.fetch(
            f"""SELECT {_EXTERNAL_COLUMNS} FROM external_enrollments
                WHERE resident_id_number = ANY($1::text[]) AND active ORDER BY created_at""",
            list(numbers),
        )
        found: dict[str, ExternalEnrollment] = {}
        for r in rows:
            found.setdefault(r["resident_id_number"], _external(r))
        return found

    async def get_external(self, external_id: str, *, for_update: bool = False) -> ExternalEnrollment | None:
        try:
            key = uuid.UUID(external_id)
        except ValueError:
            return None
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(
            f"SELECT {_EXTERNAL_COLUMNS} FROM external_enrollments WHERE external_enrollment_id = $1{lock}", key
        )
        return _external(row) if row else None

    async def insert_external(self, external: ExternalEnrollment) -> None:
        await self._conn.execute(
            """INSERT INTO external_enrollments (external_enrollment_id, resident_id_number, name, region_code,
                   region_name, scheme, reporting_agency, active, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8)""",
            uuid.UUID(external.external_enrollment_id),
            external.resident_id_number,
            external.name,
            external.region_code,
            external.region_name,
            external.scheme.value,
            external.reporting_agency,
            external.created_at,
        )

    async def end_external(self, external_id: str, reason: str, now: dt.datetime) -> None:
        await self._conn.execute(
            """UPDATE external_enrollments SET active = false, ended_at = $2, end_reason = $3
               WHERE external_enrollment_id = $1""",
            uuid.UUID(external_id),
            now,
            reason,
        )

    # -- the enrollment check read model --------------------------------------------------------

    async def refresh_check_index(self, numbers: Sequence[str], now: dt.datetime) -> None:
        """Rewrites the check documents of these persons from the tables (R16: same transaction)."""
        await self._conn.execute(
            """INSERT INTO enrollment_check_index (resident_id_number, doc, updated_at)
               SELECT p.number, jsonb_build_object(
                   'enrollments', COALESCE((
                       SELECT jsonb_agg(jsonb_build_object(
                           'region', e.region_code, 'region_name', r.name, 'category', e.category,
                           'state', e.state, 'stop_year', e.stop_year,
                           'since', extract(year FROM e.created_at AT TIME ZONE 'Asia/Shanghai')::int,
                           'years', COALESCE((
                               SELECT jsonb_agg(jsonb_build_object(
                                   'year', y.insurance_year, 'status', y.status,
                                   'from', y.coverage_start, 'to', y.coverage_end) ORDER BY y.insurance_year)
                               FROM enrollment_years y WHERE y.enrollment_id = e.enrollment_id), '[]'::jsonb))
                           ORDER BY e.created_at DESC)
                       FROM enrollments e JOIN regions r ON r.region_code = e.region_code
                       WHERE e.resident_id_number = p.number), '[]'::jsonb),
                   'external', COALESCE((
                       SELECT jsonb_agg(jsonb_build_object(
                           'region', x.region_code, 'region_name', x.region_name, 'scheme', x.scheme)
                           ORDER BY x.created_at)
                       FROM external_enrollments x WHERE x.resident_id_number = p.number AND x.active),
                       '[]'::jsonb)), $2
               FROM unnest($1::text[]) AS p(number)
               ON CONFLICT (resident_id_number) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at""",
            list(numbers),
            now,
        )

    # -- batches ------------------------------------------------------------------------------

    async def ensure_batch(self, batch_id: str, submitter_code: str, now: dt.datetime) -> str:
        """Creates the batch if new; returns the submitter it was first created with."""
        await self._conn.execute(
            """INSERT INTO registration_batches (batch_id, submitter_code, created_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            batch_id,
            submitter_code,
            now,
        )
        await self._conn.execute("SELECT 1 FROM registration_batches WHERE batch_id = $1 FOR UPDATE", batch_id)
        return str(
            await self._conn.fetchval("SELECT submitter_code FROM registration_batches WHERE batch_id = $1", batch_id)
        )

    async def batch_rows(self, batch_id: str, row_numbers: Sequence[int]) -> dict[int, Record]:
        rows = await self._conn.fetch(
            """SELECT row_number, fingerprint, outcome, enrollment_id, error_reason, error_field, error_message,
                      error_metadata
               FROM registration_batch_rows WHERE batch_id = $1 AND row_number = ANY($2::int[])""",
            batch_id,
            list(row_numbers),
        )
        return {r["row_number"]: r for r in rows}

    async def insert_batch_rows(self, batch_id: str, results: Sequence[dict[str, Any]]) -> None:
        if not results:
            return
        await self._conn.copy_records_to_table(
            "registration_batch_rows",
            records=[
                (
                    batch_id,
                    r["row_number"],
                    r["fingerprint"],
                    r["outcome"],
                    uuid.UUID(r["enrollment_id"]) if r.get("enrollment_id") else None,
                    r.get("error_reason"),
                    r.get("error_field"),
                    r.get("error_message"),
                    json.dumps(r["error_metadata"]) if r.get("error_metadata") is not None else None,
                )
                for r in results
            ],
            columns=[
                "batch_id",
                "row_number",
                "fingerprint",
                "outcome",
                "enrollment_id",
                "error_reason",
                "error_field",
                "error_message",
                "error_metadata",
            ],
        )

    async def batch_summary(self, batch_id: str) -> Record | None:
        return await self._conn.fetchrow(
            """SELECT b.batch_id, b.submitter_code, count(r.row_number) AS row_count,
                      count(*) FILTER (WHERE r.outcome <> 'REFUSED') AS accepted_count,
                      count(*) FILTER (WHERE r.outcome = 'REFUSED') AS refused_count
               FROM registration_batches b LEFT JOIN registration_batch_rows r USING (batch_id)
               WHERE b.batch_id = $1 GROUP BY b.batch_id, b.submitter_code""",
            batch_id,
        )

    async def batch_page(self, batch_id: str, refused_only: bool, after: int, limit: int) -> list[Record]:
        return list(
            await self._conn.fetch(
                """SELECT row_number, fingerprint, outcome, enrollment_id, error_reason, error_field, error_message,
                          error_metadata
                   FROM registration_batch_rows
                   WHERE batch_id = $1 AND row_number > $2 AND (NOT $3 OR outcome = 'REFUSED')
                   ORDER BY row_number LIMIT $4""",
                batch_id,
                after,
                refused_only,
                limit,
            )
        )


_ENROLLMENT_COLUMNS = """enrollment_id, resident_id_number, name, phone, birth_date, region_code, school_code,
    category, state, sequence, rejection_reason, stop_reason, stop_note, stopped_at, stop_year, created_at,
    updated_at"""
_YEAR_COLUMNS = """insurance_year, status, coverage_start, coverage_end, payable_from, payable_until, window_start,
    window_end, newborn_current_year, policy_version, standard_fen, subsidy_fen, paid_by_payment_id"""
_EXTERNAL_COLUMNS = """external_enrollment_id, resident_id_number, name, region_code, region_name, scheme,
    reporting_agency, active, created_at, ended_at, end_reason"""


def adult_birth_cutoff(today: dt.date) -> dt.date:
    """The latest birth date of someone who is 18 on `today` (a 29 February birthday counts from 1 March)."""
    try:
        return today.replace(year=today.year - 18)
    except ValueError:  # today is 29 February
        return dt.date(today.year - 18, 2, 28)


def _year_columns(pairs: Sequence[tuple[str, YearAssessment]]) -> list[list[Any]]:
    """enrollment_years columns, one array each, in table order, for an unnest insert."""
    return [
        [uuid.UUID(e) for e, _ in pairs],
        [y.insurance_year for _, y in pairs],
        ["AWAITING_PAYMENT"] * len(pairs),
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
    ]


def _policy(r: Record) -> RegionPolicy:
    subsidies = r["subsidies"]
    if isinstance(subsidies, str):
        subsidies = json.loads(subsidies)
    return RegionPolicy(
        region_code=r["region_code"],
        insurance_year=r["insurance_year"],
        version=r["version"],
        individual_standard_fen=Fen(r["individual_standard_fen"]),
        fiscal_subsidy_fen=Fen(r["fiscal_subsidy_fen"]),
        newborn_standard_fen=Fen(r["newborn_standard_fen"]),
        category_subsidies={Category(k): Fen(int(v)) for k, v in subsidies.items()},
        collection_window=DateRange(r["window_start"], r["window_end"]),
        benefit_period=DateRange(r["benefit_start"], r["benefit_end"]),
        review_mode=ReviewMode(r["review_mode"]),
        demo_data=r["demo_data"],
        created_at=r["created_at"],
    )


def _year(r: Record) -> EnrollmentYear:
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
    )


def _enrollment(r: Record, evidence: tuple[Evidence, ...], years: tuple[EnrollmentYear, ...]) -> Enrollment:
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
    )


def _external(r: Record) -> ExternalEnrollment:
    return ExternalEnrollment(
        external_enrollment_id=str(r["external_enrollment_id"]),
        resident_id_number=r["resident_id_number"],
        name=r["name"],
        region_code=r["region_code"],
        region_name=r["region_name"],
        scheme=Scheme(r["scheme"]),
        reporting_agency=r["reporting_agency"],
        active=r["active"],
        created_at=r["created_at"],
        ended_at=r["ended_at"],
        end_reason=r["end_reason"],
    )
