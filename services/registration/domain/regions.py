"""Regions (统筹区) and schools, R2, R6."""

from __future__ import annotations

from services.common.errors import InvalidArgument, required
from services.registration.domain.model import Region, School


def checked_region_code(code: str, field: str = "region_code") -> str:
    """A 6-digit administrative code (ASCII digits only: a full-width digit is not a code)."""
    code = code.strip()
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        raise InvalidArgument(
            "INVALID_REGION_CODE",
            f"{field} must be a 6-digit administrative code",
            "统筹区代码应为6位行政区划代码",
            field=field,
            metadata={"field": field},
        )
    return code


def checked_region(region: Region) -> Region:
    return Region(
        checked_region_code(region.code, "region.region_code"), required(region.name, "region.name", "统筹区名称")
    )


def checked_school(school: School) -> School:
    return School(
        required(school.code, "school.school_code", "学校代码"),
        required(school.name, "school.name", "学校名称"),
        checked_region_code(school.region_code, "school.region_code"),
    )
