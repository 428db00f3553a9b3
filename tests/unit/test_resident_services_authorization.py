"""R35 for issue 19's RPCs: family bindings and certificates from the payer's side (a channel app, a tax
desk), verification by whoever holds a certificate's number, and a resident's own look-up only through a
channel or e-tax (R46, R48)."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.identity import CallerKind, Identity
from services.enrollment.grpc_api import MAX_MY_YEARS, _my_years
from tests.unit.test_authorization import authorize

COL = "/medins.collection.v1.CollectionService/"
CHK = "/medins.enrollment.v1.EnrollmentCheckService/"
K = CallerKind


def allowed(kind: CallerKind, method: str) -> bool:
    return authorize(Identity(kind, "x1"), method) is None


@pytest.mark.parametrize("rpc", ["BindFamilyMember", "UnbindFamilyMember", "ListFamilyMembers"])
def test_family_bindings_are_made_from_the_payers_side_or_by_the_insurance_bureau(rpc: str) -> None:
    assert allowed(K.CHANNEL, COL + rpc) and allowed(K.TAX, COL + rpc) and allowed(K.REGISTRATION, COL + rpc)
    assert not allowed(K.HOSPITAL, COL + rpc) and not allowed(K.OPERATOR, COL + rpc)


def test_a_certificate_is_issued_to_a_resident_and_verified_by_whoever_holds_its_number() -> None:
    issue, verify = COL + "IssuePaymentCertificate", COL + "VerifyPaymentCertificate"
    assert all(allowed(k, issue) for k in (K.CHANNEL, K.TAX, K.OFFICER))
    assert not allowed(K.HOSPITAL, issue) and not allowed(K.CITY, issue)
    assert all(allowed(k, verify) for k in (K.CHANNEL, K.TAX, K.OFFICER, K.HOSPITAL, K.CITY, K.OPERATOR))
    assert not allowed(K.PROBE, verify) and not allowed(K.LOADTEST, verify)


def test_a_resident_looks_themselves_up_only_through_a_channel_or_e_tax() -> None:
    mine = CHK + "GetMyEnrollment"
    assert allowed(K.CHANNEL, mine) and allowed(K.TAX, mine)
    assert not any(allowed(k, mine) for k in (K.HOSPITAL, K.CITY, K.OFFICER, K.OPERATOR, K.REGISTRATION))


def test_my_years_default_to_this_one_and_the_next_and_are_bounded() -> None:
    assert _my_years([], 2023) == [2023, 2024]
    assert _my_years([2024, 2022, 2024], 2023) == [2022, 2024]
    with pytest.raises(InvalidArgument):
        _my_years(list(range(2000, 2001 + MAX_MY_YEARS)), 2023)
    with pytest.raises(InvalidArgument) as refused:
        _my_years([1999], 2023)
    assert refused.value.field == "insurance_years"
