"""Loads shared by the use cases, with the NOT_FOUND answers callers see."""

from __future__ import annotations

from services.common.errors import NotFound
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
