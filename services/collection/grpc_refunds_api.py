"""CollectionService RPCs for refunds (R23, R31): a mixin of the servicer (services/collection/grpc_api.py).
Translate, call the use case, respond."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import convert
from services.collection.handlers import refunds
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import InvalidArgument
from services.common.mutations import run_mutation
from services.common.pagination import page_request

Context = grpc.aio.ServicerContext[Any, Any]


class RefundsApi:
    """Needs the servicer's unit-of-work factory and clock."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock

    # -- refunds --------------------------------------------------------------------------------

    async def RequestRefund(self, request: pb.RequestRefundRequest, context: Context) -> pb.RequestRefundResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.RequestRefundResponse:
            refund = await refunds.request_refund(
                request.payment_id, request.requested_by, request.note, uow, self._clock
            )
            return pb.RequestRefundResponse(refund=convert.refund_to_proto(refund))

        return await run_mutation(self._uow, "RequestRefund", request, pb.RequestRefundResponse, action)

    async def GetRefund(self, request: pb.GetRefundRequest, context: Context) -> pb.GetRefundResponse:
        async with self._uow() as uow:
            refund = await refunds.load_refund(uow, request.refund_id)
        return pb.GetRefundResponse(refund=convert.refund_to_proto(refund))

    async def ListRefunds(self, request: pb.ListRefundsRequest, context: Context) -> pb.ListRefundsResponse:
        status = convert.refund_status(request.status)
        payer = request.payer_id_number or None
        # The payer joins the filters only when given: a token issued before it existed still reads.
        filters: dict[str, object] = {"status": status} | ({"payer": payer} if payer else {})
        page = page_request(request.page_size, request.page_token, filters=filters, default=50, maximum=500)
        async with self._uow() as uow:
            found = await refunds.list_refunds(status, page, uow, payer=payer)
        token = refunds.refunds_token(page, found)
        return pb.ListRefundsResponse(refunds=[convert.refund_to_proto(r) for r in found], next_page_token=token)

    async def NotifyRefundResult(
        self, request: pb.NotifyRefundResultRequest, context: Context
    ) -> pb.NotifyRefundResultResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.NotifyRefundResultResponse:
            refund = await refunds.notify_refund_result(
                request.refund_id,
                request.channel_refund_id,
                request.succeeded,
                request.failure_reason,
                uow,
                self._clock,
            )
            return pb.NotifyRefundResultResponse(refund=convert.refund_to_proto(refund))

        return await run_mutation(self._uow, "NotifyRefundResult", request, pb.NotifyRefundResultResponse, action)

    async def ResolveRefund(self, request: pb.ResolveRefundRequest, context: Context) -> pb.ResolveRefundResponse:
        resolution = request.resolution
        if resolution not in (pb.REFUND_RESOLUTION_MARK_SUCCEEDED, pb.REFUND_RESOLUTION_RETRY):
            raise InvalidArgument(
                "FIELD_REQUIRED", "resolution must be specified", "请选择处理结果", field="resolution"
            )

        async def action(uow: CollectionUnitOfWork) -> pb.ResolveRefundResponse:
            refund = await refunds.resolve_refund(
                request.refund_id,
                request.officer_id,
                resolution == pb.REFUND_RESOLUTION_MARK_SUCCEEDED,
                request.note,
                uow,
                self._clock,
            )
            return pb.ResolveRefundResponse(refund=convert.refund_to_proto(refund))

        return await run_mutation(self._uow, "ResolveRefund", request, pb.ResolveRefundResponse, action)
