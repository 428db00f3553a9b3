"""The payment intake's edge: a NotifyPayment request as a domain `Notification`, an intake outcome as
the gRPC answer (R20-R22, R21b)."""

from __future__ import annotations

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection import convert
from services.collection.channels import own_format
from services.collection.domain.intake import (
    Applied,
    IntakeOutcome,
    Notification,
    Raced,
    RefundRaised,
    Refused,
    Replayed,
)
from services.collection.payment_intake import payment_race
from services.common.errors import DomainError
from services.common.grpc_errors import GRPC_CODES
from services.common.idempotency import request_fingerprint
from services.common.identity import current_caller
from services.common.validation import validate


def notification(request: pb.NotifyPaymentRequest) -> Notification:
    """What the channel sent, from the caller the call policy bound (R35): the payload and the headers
    forwarded with it; a `signature` field stands for our own format's Medins-Signature header."""
    headers = tuple((h.name, h.content) for h in request.headers)
    if request.signature and not any(name.lower() == own_format.HEADER for name, _ in headers):
        headers += ((own_format.HEADER, request.signature),)
    return Notification(
        channel=request.channel,
        channel_label=channel_label(request.channel),
        payload=request.payload,
        headers=headers,
        caller=str(current_caller()),
        request_id=request.request_id,
        fingerprint=request_fingerprint(request),
    )


def batch(request: pb.NotifyPaymentsRequest) -> tuple[list[Notification], list[DomainError | None]]:
    """A batch's notifications, each with what the field rules (R34) say of it: the edge checks the
    batch request, and each element is answered alone."""
    refusals: list[DomainError | None] = []
    for element in request.notifications:
        try:
            validate(element)
        except DomainError as refusal:
            refusals.append(refusal)
        else:
            refusals.append(None)
    return [notification(n) for n in request.notifications], refusals


def response(outcome: IntakeOutcome) -> pb.NotifyPaymentResponse:
    """The answer to NotifyPayment; a refusal is raised as its gRPC status."""
    match outcome:
        case Applied(result=result) | RefundRaised(result=result) | Replayed(result=result):
            return convert.payment_result_to_proto(result)
        case Refused(error=error):
            raise error
        case Raced():
            raise payment_race()


def batch_response(request: pb.NotifyPaymentsRequest, outcomes: list[IntakeOutcome]) -> pb.NotifyPaymentsResponse:
    """Each notification's answer or refusal, in the batch's order. A batch that kept racing a concurrent
    one wrote nothing, and is refused whole: it may simply be sent again."""
    if any(isinstance(o, Raced) for o in outcomes):
        raise payment_race()
    return pb.NotifyPaymentsResponse(
        results=[_batch_result(n.request_id, o) for n, o in zip(request.notifications, outcomes, strict=True)]
    )


def _batch_result(request_id: str, outcome: IntakeOutcome) -> pb.NotifyPaymentsResult:
    assert not isinstance(outcome, Raced)
    if isinstance(outcome, Refused):
        error = outcome.error
        return pb.NotifyPaymentsResult(
            request_id=request_id,
            refusal=pb.NotificationRefusal(
                code=GRPC_CODES[error.kind].value[0],
                reason=error.reason,
                message=error.message,
                field=error.field or "",
            ),
        )
    return pb.NotifyPaymentsResult(request_id=request_id, response=convert.payment_result_to_proto(outcome.result))


def channel_label(value: int) -> str:
    """The channel as its record stores it: its name, or the number a caller sent that names no channel."""
    for name, number in common_pb2.PaymentChannel.items():
        if number == value:
            return name.removeprefix("PAYMENT_CHANNEL_")
    return f"UNDEFINED_{value}"
