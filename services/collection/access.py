"""Who may call which CollectionService RPC (R35): the tax bureau's table, handed to the platform's call
policy (services/common/authorization.py) by the composition root. A channel speaks only for itself:
the facts its conditions look at are the payment channels a request names (`channel`, and each
notification's in a batch)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor
from medins.collection.v1 import collection_service_pb2 as pb

from services.common.authorization import AccessTable, Denial, Grant, anyone_of
from services.common.caller_authorization import enum_names
from services.common.identity import CallerKind, Identity
from services.common.validation import max_items

K = CallerKind
SERVICE = pb.DESCRIPTOR.services_by_name["CollectionService"]
# A school order of 5,000 students or a day's settlement file of up to 20,000 records (~1.5 MB).
MAX_REQUEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ChannelFacts:
    # Every payment channel the request speaks for, e.g. "WECHAT".
    channels: tuple[str, ...] = ()

    def logged(self) -> Mapping[str, object]:
        return {"channels": list(self.channels[:10])}


@functools.cache
def _reader(descriptor: Descriptor) -> Any:
    """Reads the channels out of requests of one type, made once per type. An enum number this server
    does not know names nobody's channel."""
    fields = descriptor.fields_by_name
    channel = enum_names(descriptor, "channel", "PAYMENT_CHANNEL_") if "channel" in fields else None
    notifications = _reader(fields["notifications"].message_type) if "notifications" in fields else None
    # A batch over its cap is refused whole at the edge right after (R41): the facts of the elements it
    # may hold decide, and reading them costs no more for a batch of 100,000.
    cap = max_items(fields["notifications"]) if "notifications" in fields else 0

    def read(request: Any) -> ChannelFacts:
        channels: tuple[str, ...] = ()
        if channel is not None:
            channels = (channel.get(request.channel, "UNKNOWN"),)
        if notifications is not None:
            batch = request.notifications
            listed = batch if len(batch) <= cap else batch[:cap]
            channels += tuple(dict.fromkeys(c for n in listed for c in notifications(n).channels))
        return ChannelFacts(channels)

    return read


def channel_facts(request: Any) -> ChannelFacts:
    """What the table's conditions look at in `request`."""
    facts: ChannelFacts = _reader(request.DESCRIPTOR)(request)
    return facts


def own_channel(identity: Identity, facts: ChannelFacts) -> Denial | None:
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


# The load test plays the deadline-week mix (benchmarks/load_mix.py) as one identity: it orders and pays
# its residents' items as the channels would, and reads the records. A system admits it only where
# load-test callers are allowed (MEDINS_LOADTEST_CALLERS; not in production unless set), checked before
# this table.
_LOAD_TEST = Grant(K.LOADTEST)
# What a payer does through a channel's app or the tax bureau's own desks.
_PAYER_SIDE = anyone_of(K.CHANNEL, K.TAX)

GRANTS: Mapping[str, tuple[Grant, ...]] = {
    # Payers' side.
    "ListPayableItems": (*_PAYER_SIDE, _LOAD_TEST),
    "CreateOrder": (*_PAYER_SIDE, _LOAD_TEST),
    "GetOrder": _PAYER_SIDE,
    # An officer or operator reads a person's orders and records to explain their standing
    # (`medins person`, issue 18 item 8), read-only.
    "ListOrders": (*_PAYER_SIDE, Grant(K.OFFICER), Grant(K.OPERATOR)),
    "ReinitiateOrder": _PAYER_SIDE,
    "GetReceipt": _PAYER_SIDE,
    "ListPaymentRecords": (*_PAYER_SIDE, _LOAD_TEST, Grant(K.OFFICER), Grant(K.OPERATOR)),
    "LinkMinor": _PAYER_SIDE,
    "UnlinkMinor": _PAYER_SIDE,
    "ListLinkedMinors": _PAYER_SIDE,
    "GetFamilyAccount": _PAYER_SIDE,
    "CreateDeductionAgreement": _PAYER_SIDE,
    "ConfirmDeductionAgreement": _PAYER_SIDE,
    "ListDeductionAgreements": _PAYER_SIDE,
    "RevokeDeductionAgreement": _PAYER_SIDE,
    "CreateSchoolCollectiveOrder": anyone_of(K.TAX),
    # Only payment channels notify payments, each only for itself.
    "NotifyPayment": (Grant(K.CHANNEL, own_channel), _LOAD_TEST),
    "NotifyPayments": (Grant(K.CHANNEL, own_channel),),
    # The insurance bureau's account system reports family account balances.
    "UpdateFamilyAccount": anyone_of(K.REGISTRATION),
    # The holder binds family members through a channel app or a desk, or the insurance bureau's own
    # account system does for them (R46).
    "BindFamilyMember": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    "UnbindFamilyMember": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    "ListFamilyMembers": (*_PAYER_SIDE, Grant(K.REGISTRATION)),
    # A resident asks for a payment certificate through a channel app or e-tax, or at a service point
    # (R48); whoever holds its number may verify it (an employer, a school, another agency).
    "IssuePaymentCertificate": (*_PAYER_SIDE, Grant(K.OFFICER)),
    "VerifyPaymentCertificate": anyone_of(K.CHANNEL, K.TAX, K.REGISTRATION, K.OFFICER, K.OPERATOR, K.HOSPITAL, K.CITY),
    # Refunds and reconciliation: the tax bureau and its operators; channels report their results.
    "RequestRefund": anyone_of(K.TAX, K.OPERATOR),
    "GetRefund": anyone_of(K.TAX, K.OPERATOR),
    "ListRefunds": anyone_of(K.TAX, K.OPERATOR, K.OFFICER),  # an officer: a person's, for `medins person`
    # A channel reports only on its own refunds: checked once the refund is read (own_refund).
    "NotifyRefundResult": anyone_of(K.CHANNEL),
    "ResolveRefund": anyone_of(K.OPERATOR),
    "ImportChannelSettlement": (Grant(K.OPERATOR), Grant(K.CHANNEL, own_channel)),
    "GetReconciliationReport": anyone_of(K.OPERATOR),
    "GetCollectionResults": anyone_of(K.OPERATOR, K.TAX, K.OFFICER),
}

ACCESS = AccessTable(SERVICE.full_name, GRANTS, channel_facts)


# Admission priorities (issue 22, services/common/admission.py): when the service is busy, a channel's
# payment is applied before anyone's record query (R21: the person has paid; a list can wait).
ADMISSION_PRIORITIES = {"NotifyPayment": 2, "NotifyPayments": 1, "NotifyRefundResult": 1}
