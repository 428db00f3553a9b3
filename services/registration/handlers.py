"""Insurance-side use cases. Each: load → domain rules → persist and write events, in the caller's
unit of work; the caller commits. Raising a DomainError leaves nothing written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import structlog

from services.common.clock import Clock
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, required
from services.common.messaging import envelope as event_types
from services.common.resident_id import mask, parse_resident_id
from services.registration import events
from services.registration.domain.duplicates import HeldEnrollment, check_not_enrolled
from services.registration.domain.lifecycle import check_can_review, check_can_stop, checked_rejection_reason
from services.registration.domain.model import (
    Category,
    Enrollment,
    EnrollmentState,
    Evidence,
    ExternalEnrollment,
    Region,
    RegionPolicy,
    Scheme,
    School,
    StopReason,
)
from services.registration.domain.policy import validate_policy
from services.registration.domain.registration import check_applicant, new_enrollment, place_of, years_to_assess
from services.registration.repository import RegistrationRepository
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


# -- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterResident:
    resident_id_number: str
    name: str
    phone: str
    region_code: str | None
    school_code: str | None
    category: Category
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class ReviewRegistration:
    enrollment_id: str
    officer_id: str
    note: str


@dataclass(frozen=True)
class StopEnrollment:
    enrollment_id: str
    reason: StopReason
    note: str


@dataclass(frozen=True)
class RecordExternalEnrollment:
    resident_id_number: str
    name: str
    region_code: str
    region_name: str
    scheme: Scheme
    reporting_agency: str


# -- registration ----------------------------------------------------------------------------------


async def register_resident(cmd: RegisterResident, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """新参保登记 (R5-R8, R13): validated, checked for duplicates, active at once or pending review."""
    now = clock.now()
    today = now.date()
    resident_id = parse_resident_id(cmd.resident_id_number, today=today)
    region, school = await resolve_place(uow.repo, cmd.region_code, cmd.school_code)
    applicant = check_applicant(
        resident_id=resident_id,
        name=cmd.name,
        phone=cmd.phone,
        category=cmd.category,
        evidence=cmd.evidence,
        school_code=school.code if school else None,
        today=today,
    )
    await uow.repo.lock_person(resident_id.number)
    await check_duplicates(uow.repo, resident_id.number, region)
    decided = new_enrollment(applicant, region, await uow.repo.current_policies(region.code), now)
    enrollment = decided.enrollment
    if not await uow.repo.insert_enrollment(enrollment):
        raise _already_enrolled(resident_id.number, region)
    if enrollment.state is EnrollmentState.ACTIVE:
        await uow.repo.insert_years(enrollment.enrollment_id, decided.years)
        await uow.outbox.add(
            event_types.ENROLLMENT_REGISTERED, events.registered(enrollment, decided.years), occurred_at=now
        )
    await uow.repo.refresh_check_index([resident_id.number], now)
    log.info(
        "resident_registered",
        enrollment_id=enrollment.enrollment_id,
        resident=mask(resident_id.number),
        region_code=region.code,
        category=enrollment.category,
        state=enrollment.state,
    )
    return await load_enrollment(uow.repo, enrollment.enrollment_id)


async def resolve_place(
    repo: RegistrationRepository, region_code: str | None, school_code: str | None
) -> tuple[Region, School | None]:
    """Looks up the school and region named, then applies the place rule."""
    school = await repo.get_school(school_code) if school_code else None
    region = await repo.get_region(school.region_code if school else region_code or "")
    return place_of(
        region_code,
        school_code,
        {region.code: region} if region else {},
        {school.code: school} if school else {},
    )


async def check_duplicates(repo: RegistrationRepository, number: str, region: Region) -> None:
    held = None
    open_enrollment = await repo.find_open_enrollment(number)
    if open_enrollment is not None:
        open_region = await repo.get_region(open_enrollment.region_code)
        assert open_region is not None  # foreign key
        held = HeldEnrollment(open_enrollment.enrollment_id, open_region)
    check_not_enrolled(resident_id_number=number, target=region, held=held, external=await repo.active_external(number))


def _already_enrolled(number: str, region: Region) -> AlreadyExists:
    return AlreadyExists(
        "ALREADY_ENROLLED",
        f"{mask(number)} already has an open enrollment",
        "此人已有有效的参保登记,不能重复参保",
        metadata={"region_code": region.code},
    )


# -- review, stop ----------------------------------------------------------------------------------


async def approve_registration(cmd: ReviewRegistration, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """An officer approves (R7): the enrollment turns active and its years become payable."""
    now = clock.now()
    officer = required(cmd.officer_id, "officer_id", "审核人")
    enrollment = await load_enrollment(uow.repo, cmd.enrollment_id, for_update=True)
    check_can_review(enrollment)
    region = await uow.repo.get_region(enrollment.region_code)
    assert region is not None
    check_not_enrolled(
        resident_id_number=enrollment.resident_id_number,
        target=region,
        held=None,
        external=await uow.repo.active_external(enrollment.resident_id_number),
    )
    policies = await uow.repo.current_policies(enrollment.region_code)
    years = years_to_assess(
        category=enrollment.category,
        birth_date=enrollment.birth_date,
        registered_on=enrollment.created_at.date(),
        today=now.date(),
        policies=policies,
    )
    await uow.repo.set_reviewed(enrollment.enrollment_id, EnrollmentState.ACTIVE, officer, None, now)
    await uow.repo.insert_years(enrollment.enrollment_id, years)
    approved = replace(enrollment, state=EnrollmentState.ACTIVE, sequence=enrollment.sequence + 1)
    await uow.outbox.add(event_types.ENROLLMENT_REGISTERED, events.registered(approved, years), occurred_at=now)
    await uow.repo.refresh_check_index([enrollment.resident_id_number], now)
    log.info("registration_approved", enrollment_id=enrollment.enrollment_id, officer=officer)
    return await load_enrollment(uow.repo, enrollment.enrollment_id)


async def reject_registration(cmd: ReviewRegistration, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """An officer rejects with a reason (R7); nothing was assessed, so nothing goes to the tax side."""
    now = clock.now()
    officer = required(cmd.officer_id, "officer_id", "审核人")
    reason = checked_rejection_reason(cmd.note)
    enrollment = await load_enrollment(uow.repo, cmd.enrollment_id, for_update=True)
    check_can_review(enrollment)
    await uow.repo.set_reviewed(enrollment.enrollment_id, EnrollmentState.REJECTED, officer, reason, now)
    await uow.repo.refresh_check_index([enrollment.resident_id_number], now)
    log.info("registration_rejected", enrollment_id=enrollment.enrollment_id, officer=officer)
    return await load_enrollment(uow.repo, enrollment.enrollment_id)


async def stop_enrollment(cmd: StopEnrollment, uow: RegistrationUnitOfWork, clock: Clock) -> Enrollment:
    """停保 on request (R11): unpaid years cancelled here and, by event, on the tax side."""
    now = clock.now()
    enrollment = await load_enrollment(uow.repo, cmd.enrollment_id, for_update=True)
    check_can_stop(enrollment, cmd.reason, cmd.note)
    await uow.repo.set_stopped(
        enrollment.enrollment_id, EnrollmentState.STOPPED, cmd.reason, cmd.note.strip() or None, now, now.year
    )
    await uow.outbox.add(
        event_types.ENROLLMENT_STOPPED,
        events.stopped(enrollment, cmd.reason, enrollment.sequence + 1, now),
        occurred_at=now,
    )
    await uow.repo.refresh_check_index([enrollment.resident_id_number], now)
    log.info("enrollment_stopped", enrollment_id=enrollment.enrollment_id, reason=cmd.reason)
    return await load_enrollment(uow.repo, enrollment.enrollment_id)


async def load_enrollment(repo: RegistrationRepository, enrollment_id: str, *, for_update: bool = False) -> Enrollment:
    enrollment = await repo.get_enrollment(enrollment_id, for_update=for_update)
    if enrollment is None:
        raise NotFound(
            "ENROLLMENT_NOT_FOUND",
            f"enrollment {enrollment_id} not found",
            "参保登记不存在",
            field="enrollment_id",
            metadata={"enrollment_id": enrollment_id},
        )
    return enrollment


# -- external enrollments (R8) ------------------------------------------------------------------------


async def record_external_enrollment(
    cmd: RecordExternalEnrollment, uow: RegistrationUnitOfWork, clock: Clock
) -> ExternalEnrollment:
    """Another agency reports an enrollment it holds; it blocks registration here until ended."""
    now = clock.now()
    resident_id = parse_resident_id(cmd.resident_id_number, today=now.date())
    name = required(cmd.name, "name", "姓名")
    region_code = _region_code(cmd.region_code)
    region_name = required(cmd.region_name, "region_name", "统筹区名称")
    agency = required(cmd.reporting_agency, "reporting_agency", "报送机构")
    await uow.repo.lock_person(resident_id.number)
    external = ExternalEnrollment(
        external_enrollment_id=str(uuid.uuid4()),
        resident_id_number=resident_id.number,
        name=name,
        region_code=region_code,
        region_name=region_name,
        scheme=cmd.scheme,
        reporting_agency=agency,
        active=True,
        created_at=now,
    )
    await uow.repo.insert_external(external)
    await uow.repo.refresh_check_index([resident_id.number], now)
    log.info("external_enrollment_recorded", resident=resident_id.masked, region_code=region_code, scheme=cmd.scheme)
    return external


async def end_external_enrollment(
    external_id: str, reason: str, uow: RegistrationUnitOfWork, clock: Clock
) -> ExternalEnrollment:
    """The other agency stopped the enrollment there (停保); the person may now register here."""
    now = clock.now()
    reason = required(reason, "reason", "原因")
    external = await uow.repo.get_external(external_id, for_update=True)
    if external is None:
        raise NotFound(
            "EXTERNAL_ENROLLMENT_NOT_FOUND",
            f"external enrollment {external_id} not found",
            "外部参保信息不存在",
            field="external_enrollment_id",
            metadata={"external_enrollment_id": external_id},
        )
    if not external.active:
        raise FailedPrecondition(
            "EXTERNAL_ENROLLMENT_ENDED",
            f"external enrollment {external_id} was already ended",
            "该外部参保信息已终止",
            metadata={"external_enrollment_id": external_id},
        )
    await uow.repo.end_external(external_id, reason, now)
    await uow.repo.refresh_check_index([external.resident_id_number], now)
    ended = await uow.repo.get_external(external_id)
    assert ended is not None
    return ended


# -- regions, schools, policies (R2) ------------------------------------------------------------------


def _region_code(code: str, field: str = "region_code") -> str:
    code = code.strip()
    if len(code) != 6 or not code.isdigit():
        raise InvalidArgument(
            "INVALID_REGION_CODE",
            f"{field} must be a 6-digit administrative code",
            "统筹区代码应为6位行政区划代码",
            field=field,
            metadata={"field": field, "value": code},
        )
    return code


async def create_region(region: Region, uow: RegistrationUnitOfWork, clock: Clock) -> Region:
    code = _region_code(region.code, "region.region_code")
    name = required(region.name, "region.name", "统筹区名称")
    if not await uow.repo.insert_region(Region(code, name), clock.now()):
        existing = await uow.repo.get_region(code)
        if existing is not None and existing.name == name:
            return existing
        raise AlreadyExists(
            "REGION_EXISTS", f"region {code} already exists", f"统筹区{code}已存在", metadata={"region_code": code}
        )
    return Region(code, name)


async def create_school(school: School, uow: RegistrationUnitOfWork, clock: Clock) -> School:
    code = required(school.code, "school.school_code", "学校代码")
    name = required(school.name, "school.name", "学校名称")
    region_code = _region_code(school.region_code, "school.region_code")
    if await uow.repo.get_region(region_code) is None:
        raise NotFound(
            "REGION_NOT_FOUND",
            f"region {region_code} is not known",
            f"统筹区{region_code}不存在",
            field="school.region_code",
            metadata={"region_code": region_code},
        )
    created = School(code, name, region_code)
    if not await uow.repo.insert_school(created, clock.now()):
        if await uow.repo.get_school(code) == created:
            return created
        raise AlreadyExists(
            "SCHOOL_EXISTS", f"school {code} already exists", f"学校{code}已存在", metadata={"school_code": code}
        )
    return created


async def set_region_policy(policy: RegionPolicy, uow: RegistrationUnitOfWork, clock: Clock) -> RegionPolicy:
    """Stores a new version unless the terms equal the current version (then returns that one)."""
    _region_code(policy.region_code, "policy.region_code")
    if await uow.repo.get_region(policy.region_code) is None:
        raise NotFound(
            "REGION_NOT_FOUND",
            f"region {policy.region_code} is not known",
            f"统筹区{policy.region_code}不存在",
            field="policy.region_code",
            metadata={"region_code": policy.region_code},
        )
    checked = validate_policy(policy)
    current = await uow.repo.get_policy(policy.region_code, policy.insurance_year, 0)
    if current is not None and current.same_terms(checked):
        return current
    stored = await uow.repo.insert_policy_version(checked, clock.now())
    log.info(
        "region_policy_set",
        region_code=stored.region_code,
        insurance_year=stored.insurance_year,
        version=stored.version,
    )
    return stored


async def get_region_policy(region_code: str, year: int, version: int, repo: RegistrationRepository) -> RegionPolicy:
    policy = await repo.get_policy(region_code, year, version)
    if policy is None:
        raise NotFound(
            "POLICY_NOT_FOUND",
            f"no policy for region {region_code} year {year}" + (f" version {version}" if version else ""),
            f"统筹区{region_code}无{year}年度参保政策",
            metadata={"region_code": region_code, "insurance_year": year, "version": version},
        )
    return policy
