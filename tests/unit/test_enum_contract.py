"""Every domain value the API can return has its proto enum value: a value added in the domain but not
in the proto turns the RPC that returns it into INTERNAL (found by the fault campaign: a refund with
reason COVERAGE_REFUSED could not be answered)."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk_pb
from medins.registration.v1 import registration_service_pb2 as reg_pb

from services.collection.domain.model import (
    Channel,
    FeeType,
    ItemStatus,
    OrderKind,
    OrderStatus,
    RefundReason,
    RefundStatus,
)
from services.registration.domain import model as reg

PAIRS: list[tuple[type[enum.StrEnum], Any, str]] = [
    (FeeType, common_pb2.FeeType, "FEE_TYPE_"),
    (ItemStatus, pb.PayableItemStatus, "PAYABLE_ITEM_STATUS_"),
    (OrderStatus, pb.OrderStatus, "ORDER_STATUS_"),
    (OrderKind, pb.OrderKind, "ORDER_KIND_"),
    (Channel, common_pb2.PaymentChannel, "PAYMENT_CHANNEL_"),
    (RefundReason, pb.RefundReason, "REFUND_REASON_"),
    (RefundStatus, pb.RefundStatus, "REFUND_STATUS_"),
    (reg.Category, common_pb2.Category, "CATEGORY_"),
    (reg.ReviewMode, common_pb2.ReviewMode, "REVIEW_MODE_"),
    (reg.EnrollmentState, common_pb2.EnrollmentState, "ENROLLMENT_STATE_"),
    (reg.EvidenceKind, reg_pb.EvidenceKind, "EVIDENCE_KIND_"),
    (reg.YearStatus, reg_pb.EnrollmentYearStatus, "ENROLLMENT_YEAR_STATUS_"),
    (reg.StopReason, reg_pb.StopReason, "STOP_REASON_"),
    (reg.StopReason, chk_pb.EndReason, "END_REASON_"),
    (reg.Scheme, common_pb2.Scheme, "SCHEME_"),
]


@pytest.mark.parametrize(("domain", "proto", "prefix"), PAIRS, ids=[f"{p[0].__name__}-{p[2]}" for p in PAIRS])
def test_every_domain_value_has_its_proto_value(domain: type[enum.StrEnum], proto: Any, prefix: str) -> None:
    names = set(proto.keys())
    missing = [v.value for v in domain if f"{prefix}{v.value}" not in names]
    assert not missing, f"{domain.__name__} values missing from the proto: {missing}"
