"""Builders of valid API requests for end-to-end tests."""

from __future__ import annotations

import datetime as dt
import uuid

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.proto_values import range_to_proto
from tests.e2e.clients import RegistrationClient

HOUSEHOLD = reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref="doc-household")


def new_request_id() -> str:
    return str(uuid.uuid4())


def register(
    number: str,
    *,
    name: str = "张三",
    region: str = "340800",
    category: common_pb2.Category.ValueType = common_pb2.CATEGORY_NON_EMPLOYED,
    evidence: list[reg.Evidence] | None = None,
    phone: str = "13800138000",
) -> reg.RegisterResidentRequest:
    return reg.RegisterResidentRequest(
        request_id=new_request_id(),
        resident_id_number=number,
        name=name,
        phone=phone,
        region_code=region,
        category=category,
        evidence=[HOUSEHOLD] if evidence is None else evidence,
    )


def policy(
    region: str,
    year: int,
    standard_fen: int,
    window: tuple[dt.date, dt.date],
    *,
    manual: bool = False,
    subsidies: dict[int, int] | None = None,
) -> reg.RegionPolicy:
    return reg.RegionPolicy(
        region_code=region,
        insurance_year=year,
        individual_standard_fen=standard_fen,
        category_subsidies=[reg.CategorySubsidy(category=c, subsidy_fen=f) for c, f in (subsidies or {}).items()],  # type: ignore[arg-type]
        collection_window=range_to_proto(*window),
        benefit_period=range_to_proto(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        review_mode=common_pb2.REVIEW_MODE_MANUAL if manual else common_pb2.REVIEW_MODE_AUTOMATIC,
    )


async def create_region(registration: RegistrationClient, code: str, name: str, *policies: reg.RegionPolicy) -> None:
    """A region of the test's own, so what it does to time and renewals touches nobody else."""
    await registration.CreateRegion(
        reg.CreateRegionRequest(request_id=new_request_id(), region=reg.Region(region_code=code, name=name))
    )
    for item in policies:
        await registration.SetRegionPolicy(reg.SetRegionPolicyRequest(request_id=new_request_id(), policy=item))
