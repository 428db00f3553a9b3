"""Who may call which RegistrationService RPC (R35): the insurance bureau's table, handed to the
platform's call policy (services/common/authorization.py) by the composition root. An officer approves
or rejects only in their own name: the facts its conditions look at are the officer a request quotes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medins.registration.v1 import registration_service_pb2 as pb

from services.common.authorization import AccessTable, Denial, Grant, anyone_of
from services.common.identity import CallerKind, Identity

K = CallerKind
SERVICE = pb.DESCRIPTOR.services_by_name["RegistrationService"]
# Batch registration takes chunks of 2,000 rows (~0.5 MB).
MAX_REQUEST_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class OfficerFacts:
    # The officer the request says decides.
    officer_id: str | None = None

    def logged(self) -> Mapping[str, object]:
        return {"officer_id": self.officer_id}


def officer_facts(request: Any) -> OfficerFacts:
    return OfficerFacts(request.officer_id if "officer_id" in request.DESCRIPTOR.fields_by_name else None)


def own_officer_id(identity: Identity, facts: OfficerFacts) -> Denial | None:
    """An officer decides only in their own name: the request's officer_id is the caller's."""
    if facts.officer_id == identity.name:
        return None
    return Denial(
        "OFFICER_ID_NOT_OWN",
        f"{identity} may only decide as officer_id {identity.name}",
        "经办人只能以本人名义审核",
    )


# The load test registers its own residents (benchmarks/load_mix.py; admitted only where load-test
# callers are allowed, checked before this table).
_LOAD_TEST = Grant(K.LOADTEST)

GRANTS: Mapping[str, tuple[Grant, ...]] = {
    # Registration and review.
    "RegisterResident": anyone_of(K.REGISTRATION, K.OFFICER),
    "BatchRegisterResidents": (*anyone_of(K.REGISTRATION, K.OFFICER), _LOAD_TEST),
    "GetRegistrationBatch": anyone_of(K.REGISTRATION, K.OFFICER),
    "ApproveRegistration": (Grant(K.OFFICER, own_officer_id),),
    "RejectRegistration": (Grant(K.OFFICER, own_officer_id),),
    "StopEnrollment": anyone_of(K.OFFICER, K.REGISTRATION),
    "GetEnrollment": anyone_of(K.OFFICER, K.REGISTRATION),
    "ListEnrollments": anyone_of(K.OFFICER, K.REGISTRATION),
    "ListAgedOutEnrollments": anyone_of(K.OFFICER, K.REGISTRATION, K.OPERATOR),
    "RecordExternalEnrollment": anyone_of(K.CITY, K.OFFICER),
    "EndExternalEnrollment": anyone_of(K.CITY, K.OFFICER),
    # R39: the hospital that settled the bill reports the fund's payment (the audit names it, R35).
    "RecordFundUse": anyone_of(K.HOSPITAL, K.OFFICER),
    # R37, R38: a payer asks before paying (at a desk, in a channel's app or the e-tax hall) when coverage
    # would start, and asks for repair items.
    "QuoteCoverage": anyone_of(K.OFFICER, K.REGISTRATION, K.CHANNEL, K.TAX),
    "OfferRepairs": anyone_of(K.OFFICER, K.REGISTRATION, K.CHANNEL, K.TAX),
    "GetPersonCoverage": anyone_of(K.OFFICER, K.OPERATOR),
    "CreateRegion": anyone_of(K.OFFICER),
    "ListRegions": anyone_of(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    "CreateSchool": anyone_of(K.OFFICER),
    "ListSchools": anyone_of(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    "SetRegionPolicy": anyone_of(K.OFFICER),
    "GetRegionPolicy": anyone_of(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    "ListRegionPolicies": anyone_of(K.OFFICER, K.OPERATOR, K.REGISTRATION),
}

ACCESS = AccessTable(SERVICE.full_name, GRANTS, officer_facts)
