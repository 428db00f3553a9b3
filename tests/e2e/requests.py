"""Builders of valid API requests for end-to-end tests."""

from __future__ import annotations

import uuid

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

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
