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
    IncentiveEntry,
    YearEntry,
    read_document,
    write_document,
)
from services.registration.domain.continuity import continuity_of
from services.registration.domain.incentive import Incentive, incentives
from services.registration.domain.lifecycle import ended_on
from services.registration.domain.long_term_rules import MECHANISM_FIRST_YEAR, LongTermRules
from services.registration.domain.model import Enrollment, ExternalEnrollment
from services.registration.enrollments_repository import (
    ENROLLMENT_COLUMNS,
    EnrollmentsRepository,
    enrollment_from_row,
)
from services.registration.external_repository import ExternalRepository
from services.registration.fund_uses_repository import FundUsesRepository
from services.registration.regions_repository import RegionsRepository


def check_document_of(
    enrollments: Sequence[Enrollment],
    region_names: Mapping[str, str],
    external: Sequence[ExternalEnrollment],
    incentive: Sequence[Incentive] = (),
) -> CheckDocument:
    """A person's check document: their enrollments newest first, the active external ones, and the
    incentive of each of their years under the long-term mechanism (R39)."""
    newest_first = sorted(enrollments, key=lambda e: (e.created_at, e.sequence), reverse=True)
    return CheckDocument(
        incentive=tuple(
            IncentiveEntry(i.insurance_year, i.continuous_years, i.cap_fen, i.raise_fen) for i in incentive
        ),
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


def incentives_of(
    enrollments: Sequence[Enrollment],
    external: Sequence[ExternalEnrollment],
    fund_used_in: set[int],
    rules_of: Mapping[tuple[str, int, int], LongTermRules],
    today: dt.date,
) -> list[Incentive]:
    """R39 for each year the person was assessed for under the long-term mechanism."""
    assessed = [
        (y.insurance_year, rules_of[(e.region_code, y.insurance_year, y.policy_version)])
        for e in enrollments
        for y in e.years
        if (e.region_code, y.insurance_year, y.policy_version) in rules_of
    ]
    return incentives(assessed, continuity_of(enrollments, external, today=today), fund_used_in)


class CheckProjection:
    def __init__(
        self,
        conn: Connection,
        enrollments: EnrollmentsRepository,
        external: ExternalRepository,
        regions: RegionsRepository,
        fund_uses: FundUsesRepository,
    ) -> None:
        self._conn = conn
        self._enrollments = enrollments
        self._external = external
        self._regions = regions
        self._fund_uses = fund_uses

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
        external = await self._external.all_of_many(people)
        keys = [
            (e.region_code, y.insurance_year, y.policy_version) for es in held.values() for e in es for y in e.years
        ]
        # Only a person with a year under the long-term mechanism needs its terms and the fund's use (R39).
        rules_of = await self._regions.long_term_of(keys) if any(k[1] >= MECHANISM_FIRST_YEAR for k in keys) else {}
        fund_used = await self._fund_uses.years_of(people) if rules_of else {}
        today = cst_date(now)
        documents = [
            orjson.dumps(
                write_document(
                    check_document_of(
                        held[n],
                        region_names,
                        external.get(n, []),
                        incentives_of(held[n], external.get(n, []), fund_used.get(n, set()), rules_of, today),
                    )
                )
            ).decode()
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

    async def incentive_of(self, number: str) -> list[IncentiveEntry]:
        """The incentive the person's document holds per year (R39)."""
        stored = await self._conn.fetchval(
            "SELECT doc FROM enrollment_check_index WHERE resident_id_number = $1", number
        )
        return list(read_document(stored).incentive) if stored is not None else []

    async def cap_of(self, number: str, year: int) -> int:
        """The serious-illness cap the person's document holds for the year (R39); 0 when not assessed."""
        found = next((i for i in await self.incentive_of(number) if i.year == year), None)
        return found.cap_fen if found else 0
