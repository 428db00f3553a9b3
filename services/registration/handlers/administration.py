"""Administration (R2): regions, schools and versioned region policies."""

from __future__ import annotations

import structlog

from services.common.clock import Clock
from services.common.errors import AlreadyExists, NotFound
from services.registration.domain.model import Region, RegionPolicy, School
from services.registration.domain.policy import validate_policy
from services.registration.domain.regions import checked_region, checked_region_code, checked_school
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def create_region(region: Region, uow: RegistrationUnitOfWork, clock: Clock) -> Region:
    """Creates a region; the same region again returns it, another name under its code is refused."""
    region = checked_region(region)
    if not await uow.regions.insert_region(region, clock.now()):
        existing = await uow.regions.get_region(region.code)
        if existing is not None and existing.name == region.name:
            return existing
        raise AlreadyExists(
            "REGION_EXISTS",
            f"region {region.code} already exists",
            f"统筹区{region.code}已存在",
            metadata={"region_code": region.code},
        )
    return region


async def create_school(school: School, uow: RegistrationUnitOfWork, clock: Clock) -> School:
    """Creates a school in a known region; the same school again returns it."""
    school = checked_school(school)
    await _known_region(uow, school.region_code, "school.region_code")
    if not await uow.regions.insert_school(school, clock.now()):
        if await uow.regions.get_school(school.code) == school:
            return school
        raise AlreadyExists(
            "SCHOOL_EXISTS",
            f"school {school.code} already exists",
            f"学校{school.code}已存在",
            metadata={"school_code": school.code},
        )
    return school


async def set_region_policy(policy: RegionPolicy, uow: RegistrationUnitOfWork, clock: Clock) -> RegionPolicy:
    """Stores a new version unless the terms equal the current version (then returns that one)."""
    checked_region_code(policy.region_code, "policy.region_code")
    await _known_region(uow, policy.region_code, "policy.region_code")
    checked = validate_policy(policy)
    current = await uow.regions.get_policy(policy.region_code, policy.insurance_year, 0)
    if current is not None and current.same_terms(checked):
        return current
    stored = await uow.regions.insert_policy_version(checked, clock.now())
    log.info(
        "region_policy_set",
        region_code=stored.region_code,
        insurance_year=stored.insurance_year,
        version=stored.version,
    )
    return stored


async def _known_region(uow: RegistrationUnitOfWork, region_code: str, field: str) -> None:
    if await uow.regions.get_region(region_code) is None:
        raise NotFound(
            "REGION_NOT_FOUND",
            f"region {region_code} is not known",
            f"统筹区{region_code}不存在",
            field=field,
            metadata={"region_code": region_code},
        )
