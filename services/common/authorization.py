"""Who may call which RPC (R35): one table, every RPC of every service in it.

A grant names a kind of caller and, for some RPCs, a condition binding the request to the caller:
a payment channel notifies only for its own channel (every notification of a batch), a hospital
checks enrollment only with the hospital purpose (the purpose is bound to the identity: each kind asks
with its own), an officer approves or rejects only as the officer quoted in the request. A method not
in the table is refused for everyone but the development identity; tests/unit/test_authorization.py
fails when an RPC of a service has no entry.

Pure: the call policy (services/common/caller_authorization.py) reads the facts a condition needs out
of the request and logs the decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.common.identity import CallerKind, Identity

K = CallerKind


@dataclass(frozen=True)
class CallFacts:
    """What the conditions look at, read from the request by the call policy."""

    # Every payment channel the request speaks for (`channel`, and each notification's), e.g. "WECHAT".
    channels: tuple[str, ...] = ()
    # The enrollment check's purpose, e.g. "HOSPITAL_SETTLEMENT".
    purpose: str | None = None
    # The officer the request says decides.
    officer_id: str | None = None


@dataclass(frozen=True)
class Denial:
    reason: str
    message: str
    message_zh: str


# A condition answers None when the request is the caller's to make, or why not.
Condition = Callable[[Identity, CallFacts], Denial | None]


def own_channel(identity: Identity, facts: CallFacts) -> Denial | None:
    """A channel speaks only for itself: every channel the request names is the caller's."""
    own = identity.name.upper()
    if all(channel == own for channel in facts.channels):
        return None
    return Denial(
        "CHANNEL_NOT_OWN",
        f"{identity} may only notify for its own channel",
        "支付渠道只能通知本渠道的缴费",
    )


def own_refund(identity: Identity, refund_channel: str) -> Denial | None:
    """A channel reports only on its own refunds (R35, R41: NotifyRefundResult). Which channel a refund
    belongs to is known only once it is read, so the handler asks this with the refund's channel."""
    if identity.kind is not K.CHANNEL or identity.name.upper() == refund_channel:
        return None
    return Denial(
        "REFUND_NOT_OWN",
        f"{identity} may only report the results of its own channel's refunds",
        "支付渠道只能反馈本渠道的退费结果",
    )


def purpose(expected: str) -> Condition:
    """The enrollment check's purpose is bound to the caller's kind (R35)."""

    def bound(identity: Identity, facts: CallFacts) -> Denial | None:
        if facts.purpose == expected:
            return None
        return Denial(
            "PURPOSE_NOT_ALLOWED",
            f"a {identity.kind.value} caller may only check with purpose {expected}",
            "调用方只能以其自身的用途查询参保信息",
        )

    return bound


def own_officer_id(identity: Identity, facts: CallFacts) -> Denial | None:
    """An officer decides only in their own name: the request's officer_id is the caller's."""
    if facts.officer_id == identity.name:
        return None
    return Denial(
        "OFFICER_ID_NOT_OWN",
        f"{identity} may only decide as officer_id {identity.name}",
        "经办人只能以本人名义审核",
    )


@dataclass(frozen=True)
class Grant:
    kind: CallerKind
    condition: Condition | None = None


def _any(*kinds: CallerKind) -> tuple[Grant, ...]:
    return tuple(Grant(kind) for kind in kinds)


_REG = "/medins.registration.v1.RegistrationService/"
_CHK = "/medins.enrollment.v1.EnrollmentCheckService/"
_COL = "/medins.collection.v1.CollectionService/"
_TRAIL = "/medins.trail.v1.PersonTrailService/"

# Each kind checks enrollment with its own purpose, and only with it.
_CHECKERS = (
    Grant(K.HOSPITAL, purpose("HOSPITAL_SETTLEMENT")),
    Grant(K.TAX, purpose("TAX_COLLECTION")),
    Grant(K.CITY, purpose("CROSS_REGION_REGISTRATION")),
    Grant(K.OFFICER, purpose("INSURANCE_ADMINISTRATION")),
    # The load test replays the tax bureau's pre-collection checks (benchmarks/workloads.py).
    Grant(K.LOADTEST, purpose("TAX_COLLECTION")),
)
# The load test plays the deadline-week mix (benchmarks/load_mix.py) as one identity: it registers its
# own residents, looks up, orders and pays their items as the channels would, and reads the records. A
# system admits it only where load-test callers are allowed (MEDINS_LOADTEST_CALLERS; not in production
# unless set), checked before this table.
_LOAD_TEST = Grant(K.LOADTEST)
# What a payer does through a channel's app or the tax bureau's own desks.
_PAYER_SIDE = _any(K.CHANNEL, K.TAX)

RULES: Mapping[str, tuple[Grant, ...]] = {
    # Insurance bureau: registration and review.
    _REG + "RegisterResident": _any(K.REGISTRATION, K.OFFICER),
    _REG + "BatchRegisterResidents": (*_any(K.REGISTRATION, K.OFFICER), _LOAD_TEST),
    _REG + "GetRegistrationBatch": _any(K.REGISTRATION, K.OFFICER),
    _REG + "ApproveRegistration": (Grant(K.OFFICER, own_officer_id),),
    _REG + "RejectRegistration": (Grant(K.OFFICER, own_officer_id),),
    _REG + "StopEnrollment": _any(K.OFFICER, K.REGISTRATION),
    _REG + "GetEnrollment": _any(K.OFFICER, K.REGISTRATION),
    _REG + "ListEnrollments": _any(K.OFFICER, K.REGISTRATION),
    _REG + "ListAgedOutEnrollments": _any(K.OFFICER, K.REGISTRATION, K.OPERATOR),
    _REG + "RecordExternalEnrollment": _any(K.CITY, K.OFFICER),
    _REG + "EndExternalEnrollment": _any(K.CITY, K.OFFICER),
    # R39: the hospital that settled the bill reports the fund's payment (the audit names it, R35).
    _REG + "RecordFundUse": _any(K.HOSPITAL, K.OFFICER),
    # R37, R38: a payer asks before paying (at a desk, in a channel's app or the e-tax hall) when coverage
    # would start, and asks for repair items.
    _REG + "QuoteCoverage": _any(K.OFFICER, K.REGISTRATION, K.CHANNEL, K.TAX),
    _REG + "OfferRepairs": _any(K.OFFICER, K.REGISTRATION, K.CHANNEL, K.TAX),
    _REG + "GetPersonCoverage": _any(K.OFFICER, K.OPERATOR),
    _REG + "CreateRegion": _any(K.OFFICER),
    _REG + "ListRegions": _any(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    _REG + "CreateSchool": _any(K.OFFICER),
    _REG + "ListSchools": _any(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    _REG + "SetRegionPolicy": _any(K.OFFICER),
    _REG + "GetRegionPolicy": _any(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    _REG + "ListRegionPolicies": _any(K.OFFICER, K.OPERATOR, K.REGISTRATION),
    # The hot read path for other agencies.
    _CHK + "CheckEnrollment": _CHECKERS,
    _CHK + "BatchCheckEnrollments": _CHECKERS,
    # A resident looks themselves up through a channel app or e-tax, which authenticated them (R48).
    _CHK + "GetMyEnrollment": _any(K.CHANNEL, K.TAX),
    # Tax bureau: payers' side.
    _COL + "ListPayableItems": (*_PAYER_SIDE, _LOAD_TEST),
    _COL + "CreateOrder": (*_PAYER_SIDE, _LOAD_TEST),
    _COL + "GetOrder": _PAYER_SIDE,
    _COL + "ListOrders": _PAYER_SIDE,
    _COL + "ReinitiateOrder": _PAYER_SIDE,
    _COL + "GetReceipt": _PAYER_SIDE,
    _COL + "ListPaymentRecords": (*_PAYER_SIDE, _LOAD_TEST),
    _COL + "LinkMinor": _PAYER_SIDE,
    _COL + "UnlinkMinor": _PAYER_SIDE,
    _COL + "ListLinkedMinors": _PAYER_SIDE,
    _COL + "GetFamilyAccount": _PAYER_SIDE,
    _COL + "CreateDeductionAgreement": _PAYER_SIDE,
    _COL + "ConfirmDeductionAgreement": _PAYER_SIDE,
    _COL + "ListDeductionAgreements": _PAYER_SIDE,
    _COL + "RevokeDeductionAgreement": _PAYER_SIDE,
    _COL + "CreateSchoolCollectiveOrder": _any(K.TAX),
    # Only payment channels notify payments, each only for itself.
    _COL + "NotifyPayment": (Grant(K.CHANNEL, own_channel), _LOAD_TEST),
    _COL + "NotifyPayments": (Grant(K.CHANNEL, own_channel),),
    # The insurance bureau's account system reports family account balances.
    _COL + "UpdateFamilyAccount": _any(K.REGISTRATION),
    # The holder binds family members through a channel app or a desk, or the insurance bureau's own
    # account system does for them (R46).
    _COL + "BindFamilyMember": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    _COL + "UnbindFamilyMember": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    _COL + "ListFamilyMembers": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    # A resident asks for a payment certificate through a channel app or e-tax, or at a service point
    # (R48); whoever holds its number may verify it (an employer, a school, another agency).
    _COL + "IssuePaymentCertificate": (*_PAYER_SIDE, Grant(K.OFFICER)),
    _COL + "VerifyPaymentCertificate": _any(
        K.CHANNEL, K.TAX, K.REGISTRATION, K.OFFICER, K.OPERATOR, K.HOSPITAL, K.CITY
    ),
    # Refunds and reconciliation: the tax bureau and its operators; channels report their results.
    _COL + "RequestRefund": _any(K.TAX, K.OPERATOR),
    _COL + "GetRefund": _any(K.TAX, K.OPERATOR),
    _COL + "ListRefunds": _any(K.TAX, K.OPERATOR),
    # A channel reports only on its own refunds: checked once the refund is read (own_refund).
    _COL + "NotifyRefundResult": _any(K.CHANNEL),
    _COL + "ResolveRefund": _any(K.OPERATOR),
    _COL + "ImportChannelSettlement": (Grant(K.OPERATOR), Grant(K.CHANNEL, own_channel)),
    _COL + "GetReconciliationReport": _any(K.OPERATOR),
    _COL + "GetCollectionResults": _any(K.OPERATOR, K.TAX, K.OFFICER),
    # Who did what to whose record: officers only.
    _TRAIL + "ListPersonTrail": _any(K.OFFICER),
}


# The table by method and kind, for the call path: a lookup, not a scan, on every call.
_INDEX: Mapping[str, Mapping[CallerKind, tuple[Condition | None, ...]]] = {
    method: {kind: tuple(g.condition for g in grants if g.kind is kind) for kind in {g.kind for g in grants}}
    for method, grants in RULES.items()
}


def reads_request(method: str, kind: CallerKind) -> bool:
    """Whether a `kind` caller's call of `method` depends on the request (else its kind decides alone)."""
    conditions = _INDEX.get(method, {}).get(kind, ())
    return bool(conditions) and None not in conditions


def authorize(identity: Identity, method: str, facts: CallFacts) -> Denial | None:
    """None when `identity` may make this call, else why not."""
    if identity.kind is K.LOCAL:
        return None
    conditions = _INDEX.get(method, {}).get(identity.kind)
    if not conditions:
        return Denial(
            "CALLER_NOT_ALLOWED",
            f"a {identity.kind.value} caller may not call {method.rsplit('/', 1)[-1]}",
            "调用方无权调用此接口",
        )
    denial: Denial | None = None
    for condition in conditions:
        if condition is None:
            return None
        denial = condition(identity, facts)
        if denial is None:
            return None
    return denial
