"""Who may call which EnrollmentCheckService RPC (R35): the insurance bureau's table for its read path,
handed to the platform's call policy (services/common/authorization.py) by the composition root. The
check's purpose is bound to the caller's kind: the facts its conditions look at are the purpose a
request asks with."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor
from medins.enrollment.v1 import enrollment_check_service_pb2 as pb

from services.common.authorization import AccessTable, Condition, Denial, Grant, anyone_of
from services.common.caller_authorization import enum_names
from services.common.identity import CallerKind, Identity

K = CallerKind
SERVICE = pb.DESCRIPTOR.services_by_name["EnrollmentCheckService"]
# A batch check of 1,000 IDs is ~25 kB.
MAX_REQUEST_BYTES = 256 * 1024


@dataclass(frozen=True)
class PurposeFacts:
    # The check's purpose, e.g. "HOSPITAL_SETTLEMENT"; None when the request has none.
    purpose: str | None = None

    def logged(self) -> Mapping[str, object]:
        return {"purpose": self.purpose}


@functools.cache
def _purposes(descriptor: Descriptor) -> dict[int, str] | None:
    fields = descriptor.fields_by_name
    return enum_names(descriptor, "purpose", "CHECK_PURPOSE_") if "purpose" in fields else None


def purpose_facts(request: Any) -> PurposeFacts:
    """The purpose `request` asks with; a number this server does not know names no purpose."""
    purposes = _purposes(request.DESCRIPTOR)
    return PurposeFacts(purposes.get(request.purpose, "UNKNOWN") if purposes is not None else None)


def purpose(expected: str) -> Condition:
    """The enrollment check's purpose is bound to the caller's kind (R35)."""

    def bound(identity: Identity, facts: PurposeFacts) -> Denial | None:
        if facts.purpose == expected:
            return None
        return Denial(
            "PURPOSE_NOT_ALLOWED",
            f"a {identity.kind.value} caller may only check with purpose {expected}",
            "调用方只能以其自身的用途查询参保信息",
        )

    return bound


# Each kind checks enrollment with its own purpose, and only with it.
_CHECKERS = (
    Grant(K.HOSPITAL, purpose("HOSPITAL_SETTLEMENT")),
    Grant(K.TAX, purpose("TAX_COLLECTION")),
    Grant(K.CITY, purpose("CROSS_REGION_REGISTRATION")),
    Grant(K.OFFICER, purpose("INSURANCE_ADMINISTRATION")),
    # The load test replays the tax bureau's pre-collection checks (benchmarks/workloads.py).
    Grant(K.LOADTEST, purpose("TAX_COLLECTION")),
)

GRANTS: Mapping[str, tuple[Grant, ...]] = {
    # The hot read path for other agencies.
    "CheckEnrollment": _CHECKERS,
    "BatchCheckEnrollments": _CHECKERS,
    # A resident looks themselves up through a channel app or e-tax, which authenticated them (R48).
    "GetMyEnrollment": anyone_of(K.CHANNEL, K.TAX),
}

ACCESS = AccessTable(SERVICE.full_name, GRANTS, purpose_facts)


# Admission priorities (issue 22, services/common/admission.py): when the service is busy, one check (a
# hospital settling a bill at the counter, R15/R16) starts before a bulk batch check.
ADMISSION_PRIORITIES = {"CheckEnrollment": 1, "BatchCheckEnrollments": 0}
