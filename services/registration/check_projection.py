"""The enrollment check's read model (R15, R16): one document per person, rebuilt from the tables in
the same transaction as every change to that person, in the shape services/enrollment/domain/
check_document.py defines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import orjson

from services.common.db import Connection
from services.common.periods import cst_date
from services.enrollment.domain.check_document import (
    CheckDocument,
    EnrollmentEntry,
    EntryState,
    EntryYearStatus,
    ExternalEntry,
    YearEntry,
    write_document,
)
from services.registration.domain.lifecycle import ended_on
from services.registration.domain.model import Enrollment, ExternalEnrollment
from services.registration.enrollments_repository import (
    ENROLLMENT_COLUMNS,
    EnrollmentsRepository,
    enrollment_from_row,
)
from services.registration.external_repository import ExternalRepository


def check_document_of(
    enrollments: Sequence[Enrollment], region_names: Mapping[str, str], external: Sequence[ExternalEnrollment]
) -> CheckDocument:
    """A person's check document: their enrollments newest first, and the active external ones."""
    newest_first = sorted(enrollments, key=lambda e: (e.created_at, e.sequence), reverse=True)
    return CheckDocument(
        enrollments=tuple(
            EnrollmentEntry(
                region_code=e.region_code,
                region_name=region_names.get(e.region_code, ""),
                category=e.category.value,
                state=EntryState(e.state.value),
                since=cst_date(e.created_at).year,
                years=tuple(
                    YearEntry(
                        y.insurance_year,
                        EntryYearStatus(y.status.value),
                        y.covered_period.start,
                        y.covered_period.end,
                        y.wait_months,
                    )
                    for y in e.years
                ),
                stop_year=e.stop_year,
                ended_on=ended_on(e),
                end_reason=e.stop_reason.value if e.stop_reason else None,
            )
            for e in newest_first
        ),
        external=tuple(ExternalEntry(x.region_code, x.region_name, x.scheme.value) for x in external if x.active),
    )


class CheckProjection:
    def __init__(self, conn: Connection, enrollments: EnrollmentsRepository, external: ExternalRepository) -> None:
        self._conn = conn
        self._enrollments = enrollments
        self._external = external

    async def refresh(self, numbers: Sequence[str], now: dt.datetime) -> None:
        """Rewrites the check documents of these persons."""
        if not numbers:
            return
        people = sorted(set(numbers))
        rows = await self._conn.fetch(
            f"""SELECT {ENROLLMENT_COLUMNS}, (SELECT name FROM regions r WHERE r.region_code = e.region_code)
                       AS region_name
                FROM enrollments e WHERE resident_id_number = ANY($1::text[])""",
            people,
        )
        region_names = {r["region_code"]: r["region_name"] for r in rows}
        years = await self._enrollments.years_of_many([r["enrollment_id"] for r in rows])
        held: dict[str, list[Enrollment]] = {n: [] for n in people}
        for r in rows:
            held[r["resident_id_number"]].append(enrollment_from_row(r, (), years[r["enrollment_id"]]))
        external = await self._external.active_of(people)
        documents = [
            orjson.dumps(write_document(check_document_of(held[n], region_names, external.get(n, [])))).decode()
            for n in people
        ]
        await self._conn.execute(
            """INSERT INTO enrollment_check_index (resident_id_number, doc, updated_at)
               SELECT n, d::jsonb, $3 FROM unnest($1::text[], $2::text[]) AS p(n, d)
               ON CONFLICT (resident_id_number) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at""",
            people,
            documents,
            now,
        )
