"""CollectionService RPCs through which channels report payments (R20-R23, R21b): a mixin of the servicer
(services/collection/grpc_api.py). Each RPC reads top to bottom: the request as a domain notification,
the intake's one outcome, the answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import intake_convert, payment_intake
from services.collection.channels.signature import NotificationVerifier
from services.collection.notification_groups import NotificationGroups
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError

Context = grpc.aio.ServicerContext[Any, Any]


class PaymentsApi:
    """Needs the servicer's unit-of-work factory, clock, signature verifier and allowed clock skew."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock
    _verifier: NotificationVerifier
    _skew: dt.timedelta
    _groups: NotificationGroups

    async def NotifyPayment(self, request: pb.NotifyPaymentRequest, context: Context) -> pb.NotifyPaymentResponse:
        notification = intake_convert.notification(request)
        outcome = await self._groups.take_in(notification)
        return intake_convert.response(outcome)

    async def NotifyPayments(self, request: pb.NotifyPaymentsRequest, context: Context) -> pb.NotifyPaymentsResponse:
        notifications, refused_by_fields = intake_convert.batch(request)
        outcomes = await payment_intake.take_in_batch(
            notifications, refused_by_fields, self._uow, self._clock, self._verifier, self._skew
        )
        return intake_convert.batch_response(request, outcomes)

    async def record_refusal(self, method: str, request: Message | None, raw: bytes, error: DomainError) -> None:
        """The call policy's hook for what the edge refuses: a refused notification is still stored (R21b).
        A batch the edge refuses whole (bytes that do not parse, more notifications than it takes) is one
        refused request: one record, sampled from its first notification, and nothing per element (R41)."""
        first: pb.NotifyPaymentRequest | None
        if method == "NotifyPayment":
            first = request if isinstance(request, pb.NotifyPaymentRequest) else None
        elif method == "NotifyPayments":
            batch = request if isinstance(request, pb.NotifyPaymentsRequest) else None
            first = batch.notifications[0] if batch is not None and batch.notifications else None
            raw = raw if batch is None else b""
        else:
            return
        channel = intake_convert.channel_label(first.channel if first is not None else 0)
        payload = first.payload if first is not None else raw
        await payment_intake.record_edge_refusal(channel, payload, error, self._uow, self._clock)
