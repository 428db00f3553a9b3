"""Builders of valid API requests for end-to-end tests."""

from __future__ import annotations

import datetime as dt
import uuid

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.registration.domain.model import Category
from services.registration.policy_convert import policy_to_proto
from tests.e2e.clients import RegistrationClient
from tests.factories import region_policy

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
    """tests/factories.py's policy as SetRegionPolicy takes it; `subsidies` by proto category. No newborn
    standard and no version: the service's defaults."""
    by_category = {
        Category[common_pb2.Category.Name(c).removeprefix("CATEGORY_")]: fen  # type: ignore[arg-type]
        for c, fen in (subsidies or {}).items()
    }
    made = region_policy(
        year, standard_fen, window, region=region, newborn_fen=0, subsidies=by_category, manual=manual, version=0
    )
    return policy_to_proto(made)


async def create_region(registration: RegistrationClient, code: str, name: str, *policies: reg.RegionPolicy) -> None:
    """A region of the test's own, so what it does to time and renewals touches nobody else."""
    await registration.CreateRegion(
        reg.CreateRegionRequest(request_id=new_request_id(), region=reg.Region(region_code=code, name=name))
    )
    for item in policies:
        await registration.SetRegionPolicy(reg.SetRegionPolicyRequest(request_id=new_request_id(), policy=item))
