"""Regions (统筹区) and schools, R2, R6."""

from __future__ import annotations

from collections.abc import Mapping

from services.common.errors import InvalidArgument, NotFound, required
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


def place_of(
    region_code: str | None,
    school_code: str | None,
    regions: Mapping[str, Region],
    schools: Mapping[str, School],
    *,
    field_prefix: str = "",
) -> tuple[Region, School | None]:
    """The region of a registration, given directly or through the school (R6: region or school).
    `regions` and `schools` hold whatever the caller found for these codes."""
    if school_code:
        school = schools.get(school_code)
        if school is None:
            raise NotFound(
                "SCHOOL_NOT_FOUND",
                f"school {school_code} is not known",
                f"学校{school_code}不存在",
                field=f"{field_prefix}school_code",
                metadata={"school_code": school_code},
            )
        if region_code and region_code != school.region_code:
            raise InvalidArgument(
                "SCHOOL_REGION_MISMATCH",
                f"school {school_code} belongs to region {school.region_code}, not {region_code}",
                f"学校{school_code}不属于统筹区{region_code}",
                field=f"{field_prefix}region_code",
                metadata={"school_code": school_code, "region_code": region_code},
            )
        return regions[school.region_code], school
    if not region_code:
        field = f"{field_prefix}region_code"
        raise InvalidArgument(
            "FIELD_REQUIRED",
            "give region_code or school_code",
            "请选择医保区划或学校",
            field=field,
            metadata={"field": field},
        )
    region = regions.get(region_code)
    if region is None:
        raise NotFound(
            "REGION_NOT_FOUND",
            f"region {region_code} is not known",
            f"统筹区{region_code}不存在",
            field=f"{field_prefix}region_code",
            metadata={"region_code": region_code},
        )
    return region, None
