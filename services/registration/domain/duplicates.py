"""Duplicate enrollment check (重复参保校验), R8."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.resident_id import mask
from services.registration.domain.model import SCHEME_ZH, ExternalEnrollment, Region, Scheme


@dataclass(frozen=True)
class HeldEnrollment:
    """A pending or active resident enrollment of ours, wherever it is."""

    enrollment_id: str
    region: Region


def check_not_enrolled(
    *,
    resident_id_number: str,
    target: Region,
    held: HeldEnrollment | None,
    external: Iterable[ExternalEnrollment],
) -> None:
    """Refuses a person with an open enrollment here or elsewhere, or an active external one
    (employee insurance in this city, or any scheme in another region), naming region and scheme."""
    masked = mask(resident_id_number)
    if held is not None:
        if held.region.code == target.code:
            raise AlreadyExists(
                "ALREADY_ENROLLED",
                f"{masked} is already enrolled in {target.name} ({target.code})",
                f"此人已在{target.name}参保登记,无需重复登记",
                metadata={"region_code": target.code, "region_name": target.name, "enrollment_id": held.enrollment_id},
            )
        raise _duplicate(masked, held.region.code, held.region.name, Scheme.RESIDENT)
    for other in external:
        if other.active:
            raise _duplicate(masked, other.region_code, other.region_name, other.scheme)


def _duplicate(masked: str, region_code: str, region_name: str, scheme: Scheme) -> FailedPrecondition:
    return FailedPrecondition(
        "DUPLICATE_ENROLLMENT",
        f"{masked} has an active {scheme.lower()} enrollment in {region_name} ({region_code}); stop it there first",
        f"此人在{region_name}存在{SCHEME_ZH[scheme]}参保信息,不能重复参保!",
        metadata={"region_code": region_code, "region_name": region_name, "scheme": scheme},
    )
