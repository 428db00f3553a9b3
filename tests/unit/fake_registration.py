"""An in-memory insurance unit of work (cosmicpython's FakeUnitOfWork): the registration, review and
stop use cases run against it in milliseconds. It keeps the same contract as the SQL repositories
(one open enrollment per person, years inserted once); the end-to-end suite covers the wiring."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from google.protobuf.message import Message

from services.common.messaging.envelope import EventType
from services.common.periods import DateRange
from services.registration.domain.model import (
    Enrollment,
    EnrollmentYear,
    ExternalEnrollment,
    Region,
    RegionPolicy,
    School,
    YearStatus,
)
from services.registration.domain.registration import YearAssessment
from services.registration.unit_of_work import RegistrationUnitOfWork


@dataclass
class FakeRegions:
    regions: dict[str, Region] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    policies: dict[str, dict[int, RegionPolicy]] = field(default_factory=dict)

    async def regions_of(self, codes: Sequence[str]) -> dict[str, Region]:
        return {c: self.regions[c] for c in codes if c in self.regions}

    async def get_region(self, code: str) -> Region | None:
        return self.regions.get(code)

    async def schools_of(self, codes: Sequence[str]) -> dict[str, School]:
        return {c: self.schools[c] for c in codes if c in self.schools}

    async def current_policies_of(self, codes: Sequence[str]) -> dict[str, dict[int, RegionPolicy]]:
        return {c: dict(self.policies.get(c, {})) for c in codes}


@dataclass
class FakeEnrollments:
    rows: dict[str, Enrollment] = field(default_factory=dict)
    locked: list[str] = field(default_factory=list)

    async def lock_persons(self, numbers: Collection[str], now: dt.datetime) -> None:
        self.locked.extend(sorted(set(numbers)))

    async def open_enrollments_of(self, numbers: Sequence[str]) -> dict[str, tuple[str, str]]:
        return {
            e.resident_id_number: (e.enrollment_id, e.region_code)
            for e in self.rows.values()
            if e.is_open and e.resident_id_number in numbers
        }

    async def get(self, enrollment_id: str, *, for_update: bool = False) -> Enrollment | None:
        return self.rows.get(enrollment_id)

    async def years_with_status(self, numbers: Sequence[str], status: YearStatus) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        for e in self.rows.values():
            for y in e.years:
                if e.resident_id_number in numbers and y.status is status:
                    found.setdefault(e.resident_id_number, set()).add(y.insurance_year)
        return found

    async def insert(self, enrollments: Sequence[Enrollment]) -> set[str]:
        inserted = set()
        for e in enrollments:
            if e.open_resident_id and any(o.open_resident_id == e.open_resident_id for o in self.rows.values()):
                continue  # the unique index on open_resident_id
            self.rows[e.enrollment_id] = e
            inserted.add(e.enrollment_id)
        return inserted

    async def insert_years(self, pairs: Sequence[tuple[str, YearAssessment]]) -> set[str]:
        got = set()
        for enrollment_id, y in pairs:
            e = self.rows[enrollment_id]
            if any(have.insurance_year == y.insurance_year for have in e.years):
                continue
            year = EnrollmentYear(
                y.insurance_year,
                YearStatus.AWAITING_PAYMENT,
                y.coverage,
                DateRange(y.payable.start, y.payable.end),
                y.newborn_current_year,
                y.policy_version,
                y.standard_fen,
                y.subsidy_fen,
                y.collection_window,
                wait_free_until=y.wait_free_until,
            )
            self.rows[enrollment_id] = replace(e, years=tuple(sorted((*e.years, year), key=lambda t: t.insurance_year)))
            got.add(enrollment_id)
        return got

    async def save_state(self, enrollment: Enrollment, *, reviewed_by: str | None = None) -> None:
        self.rows[enrollment.enrollment_id] = replace(enrollment, years=self.rows[enrollment.enrollment_id].years)

    async def set_years_uncovered(self, enrollment_id: str, years: Sequence[int], status: YearStatus) -> None:
        e = self.rows[enrollment_id]
        self.rows[enrollment_id] = replace(
            e,
            years=tuple(
                replace(y, status=status, paid_by_payment_id=None) if y.insurance_year in years else y for y in e.years
            ),
        )


@dataclass
class FakeExternal:
    held: dict[str, list[ExternalEnrollment]] = field(default_factory=dict)

    async def active_of(self, numbers: Sequence[str]) -> dict[str, list[ExternalEnrollment]]:
        return {n: [x for x in self.held.get(n, []) if x.active] for n in numbers if self.held.get(n)}

    async def insert(self, external: ExternalEnrollment) -> None:
        self.held.setdefault(external.resident_id_number, []).append(external)


@dataclass
class FakeProjection:
    refreshed: list[str] = field(default_factory=list)

    async def refresh(self, numbers: Sequence[str], now: dt.datetime) -> None:
        self.refreshed.extend(numbers)


@dataclass
class FakeOutbox:
    events: list[tuple[str, Message]] = field(default_factory=list)

    async def add(self, event_type: EventType, payload: Message, *, occurred_at: dt.datetime) -> str:
        self.events.append((event_type.name, payload))
        return str(uuid.uuid4())

    async def add_many(self, event_type: EventType, payloads: Sequence[Message], *, occurred_at: dt.datetime) -> None:
        self.events.extend((event_type.name, p) for p in payloads)


@dataclass
class FakeUnitOfWork:
    regions: FakeRegions = field(default_factory=FakeRegions)
    enrollments: FakeEnrollments = field(default_factory=FakeEnrollments)
    external: FakeExternal = field(default_factory=FakeExternal)
    projection: FakeProjection = field(default_factory=FakeProjection)
    outbox: FakeOutbox = field(default_factory=FakeOutbox)

    def as_uow(self) -> RegistrationUnitOfWork:
        """The fake where the use cases expect the real one (they use only what the fake provides)."""
        return cast(RegistrationUnitOfWork, self)

    def event_names(self) -> list[str]:
        return [name for name, _ in self.events_with_payloads()]

    def events_with_payloads(self) -> list[tuple[str, Any]]:
        return list(self.outbox.events)
