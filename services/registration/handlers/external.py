"""Enrollments held in other systems (R8): another agency reports one, which blocks registration here
until it is ended there (停保)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog

from services.common.clock import Clock
from services.common.errors import FailedPrecondition, NotFound, required
from services.common.resident_id import parse_resident_id
from services.registration.domain.model import ExternalEnrollment, Scheme
from services.registration.domain.regions import checked_region_code
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RecordExternalEnrollment:
    resident_id_number: str
    name: str
    region_code: str
    region_name: str
    scheme: Scheme
    reporting_agency: str


async def record_external_enrollment(
    cmd: RecordExternalEnrollment, uow: RegistrationUnitOfWork, clock: Clock
) -> ExternalEnrollment:
    """Records it under the person's lock, so it cannot race a registration of the same person (R8)."""
    now = clock.now()
    resident_id = parse_resident_id(cmd.resident_id_number, today=now.date())
    external = ExternalEnrollment(
        external_enrollment_id=str(uuid.uuid4()),
        resident_id_number=resident_id.number,
        name=required(cmd.name, "name", "姓名"),
        region_code=checked_region_code(cmd.region_code),
        region_name=required(cmd.region_name, "region_name", "统筹区名称"),
        scheme=cmd.scheme,
        reporting_agency=required(cmd.reporting_agency, "reporting_agency", "报送机构"),
        active=True,
        created_at=now,
    )
    await uow.enrollments.lock_persons([resident_id.number], now)
    await uow.external.insert(external)
    await uow.projection.refresh([resident_id.number], now)
    log.info(
        "external_enrollment_recorded", resident=resident_id.masked, region_code=external.region_code, scheme=cmd.scheme
    )
    return external


async def end_external_enrollment(
    external_id: str, reason: str, uow: RegistrationUnitOfWork, clock: Clock
) -> ExternalEnrollment:
    """The other agency stopped the enrollment there; the person may now register here."""
    now = clock.now()
    reason = required(reason, "reason", "原因")
    external = await uow.external.get(external_id, for_update=True)
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
    await uow.external.end(external_id, reason, now)
    await uow.projection.refresh([external.resident_id_number], now)
    ended = await uow.external.get(external_id)
    assert ended is not None
    return ended
