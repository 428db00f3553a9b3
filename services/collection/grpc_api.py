"""CollectionService over gRPC: translate, call the use case, respond. No rules here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc

from services.collection import convert, handlers
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.pagination import page_request

Context = grpc.aio.ServicerContext[Any, Any]


class CollectionServicer(pb_grpc.CollectionServiceServicer):
    def __init__(self, uow_factory: Callable[[], CollectionUnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    async def ListPayableItems(
        self, request: pb.ListPayableItemsRequest, context: Context
    ) -> pb.ListPayableItemsResponse:
        page = page_request(
            request.page_size,
            request.page_token,
            filters={
                "payer": request.payer_id_number,
                "insured": request.insured_id_number,
                "settled": request.include_settled,
            },
            default=50,
            maximum=200,
        )
        async with self._uow() as uow:
            items = await handlers.list_payable_items(
                request.payer_id_number,
                request.insured_id_number,
                request.insured_name,
                request.include_settled,
                page,
                uow,
                self._clock,
            )
        token = (
            page.next_token((items[-1].insurance_year, items[-1].fee_type.value, items[-1].payable_item_id), len(items))
            if items
            else ""
        )
        return pb.ListPayableItemsResponse(
            payable_items=[convert.item_to_proto(i) for i in items], next_page_token=token
        )
