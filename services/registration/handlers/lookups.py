"""Loads shared by the use cases, with the NOT_FOUND answers callers see."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.clock import Clock
from services.common.errors import NotFound
from services.common.resident_id import mask, parse_resident_id
from services.enrollment.domain.check_document import IncentiveEntry
from services.registration.coverage_records_repository import CoverageEntry
from services.registration.domain.model import Enrollment, RegionPolicy
from services.registration.unit_of_work import RegistrationUnitOfWork


async def load_enrollment(uow: RegistrationUnitOfWork, enrollment_id: str, *, for_update: bool = False) -> Enrollment:
    """The enrollment with its evidence and years; for_update locks it and its years."""
    enrollment = await uow.enrollments.get(enrollment_id, for_update=for_update)
    if enrollment is None:
        raise NotFound(
            "ENROLLMENT_NOT_FOUND",
            f"enrollment {enrollment_id} not found",
            "参保登记不存在",
            field="enrollment_id",
            metadata={"enrollment_id": enrollment_id},
        )
    return enrollment


async def load_policy(uow: RegistrationUnitOfWork, region_code: str, year: int, version: int) -> RegionPolicy:
    """A version of a region's policy for a year, or the current one when version is 0."""
    policy = await uow.regions.get_policy(region_code, year, version)
    if policy is None:
        raise NotFound(
            "POLICY_NOT_FOUND",
            f"no policy for region {region_code} year {year}" + (f" version {version}" if version else ""),
            f"统筹区{region_code}无{year}年度参保政策",
            metadata={"region_code": region_code, "insurance_year": year, "version": version},
        )
    return policy


@dataclass(frozen=True)
class PersonCoverage:
    """An officer's view of one person (R37-R39)."""

    enrollments: list[Enrollment]
    records: list[CoverageEntry]
    repaired_years: list[int]
    incentive: list[IncentiveEntry]


async def person_coverage(number_text: str, uow: RegistrationUnitOfWork, clock: Clock) -> PersonCoverage:
    """Every enrollment of the person in any region, each coverage record, repairs and the incentive."""
    number = parse_resident_id(number_text, today=clock.now().date()).number
    enrollments = await uow.enrollments.of_person(number)
    if not enrollments:
        raise NotFound("PERSON_NOT_ENROLLED", f"{mask(number)} has never been enrolled here", "该居民无参保登记记录")
    records = await uow.coverage.of_enrollments([e.enrollment_id for e in enrollments])
    incentive = await uow.projection.incentive_of(number)
    return PersonCoverage(enrollments, records, sorted(await uow.repairs.years_of(number)), incentive)
