"""Duplicate enrollment check (重复参保校验), R8."""

from __future__ import annotations

from collections.abc import Iterable

from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.resident_id import mask
from services.registration.domain.model import SCHEME_ZH, Enrollment, ExternalEnrollment, Region, Scheme


def check_not_enrolled(
    *,
    resident_id_number: str,
    target: Region,
    open_enrollment: Enrollment | None,
    open_enrollment_region: Region | None,
    external: Iterable[ExternalEnrollment],
) -> None:
    """Refuses a person with an open enrollment here or elsewhere, or an active external one
    (employee insurance in this city, or any scheme in another region), naming region and scheme."""
    masked = mask(resident_id_number)
    if open_enrollment is not None and open_enrollment_region is not None:
        if open_enrollment.region_code == target.code:
            raise AlreadyExists(
                "ALREADY_ENROLLED",
                f"{masked} is already enrolled in {target.name} ({target.code})",
                f"此人已在{target.name}参保登记,无需重复登记",
                metadata={
                    "region_code": target.code,
                    "region_name": target.name,
                    "enrollment_id": open_enrollment.enrollment_id,
                },
            )
        raise _duplicate(masked, open_enrollment_region.code, open_enrollment_region.name, Scheme.RESIDENT)
    for held in external:
        if held.active:
            raise _duplicate(masked, held.region_code, held.region_name, held.scheme)


def _duplicate(masked: str, region_code: str, region_name: str, scheme: Scheme) -> FailedPrecondition:
    return FailedPrecondition(
        "DUPLICATE_ENROLLMENT",
        f"{masked} has an active {scheme.lower()} enrollment in {region_name} ({region_code}); stop it there first",
        f"此人在{region_name}存在{SCHEME_ZH[scheme]}参保信息,不能重复参保!",
        metadata={"region_code": region_code, "region_name": region_name, "scheme": scheme},
    )
