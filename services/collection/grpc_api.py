"""CollectionService over gRPC: translate, call the use case, respond. No rules here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc

from services.collection import convert
from services.collection.card_vault import CardVault
from services.collection.channels.signature import NotificationVerifier
from services.collection.gateways.sms import LocalSmsGateway, SmsGateway
from services.collection.grpc_agreements_api import AgreementsApi
from services.collection.grpc_payments_api import PaymentsApi
from services.collection.grpc_refunds_api import RefundsApi
from services.collection.grpc_reports_api import ReportsApi
from services.collection.grpc_resident_api import ResidentApi
from services.collection.handlers import items, orders, receipts, records
from services.collection.notification_groups import GroupLimits, NotificationGroups
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.mutations import run_mutation
from services.common.pagination import page_request
from services.common.proto_values import range_from_proto
from services.common.validation import element_refusal

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class CollectionConfig:
    order_ttl: dt.timedelta
    school_order_ttl: dt.timedelta
    clock_skew: dt.timedelta
    intake_groups: GroupLimits = field(default_factory=GroupLimits)


class CollectionServicer(
    PaymentsApi, RefundsApi, AgreementsApi, ReportsApi, ResidentApi, pb_grpc.CollectionServiceServicer
):
    def __init__(
        self,
        uow_factory: Callable[[], CollectionUnitOfWork],
        clock: Clock,
        verifier: NotificationVerifier,
        config: CollectionConfig,
        *,
        vault: CardVault,
        sms: SmsGateway | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._verifier = verifier
        self._config = config
        self._skew = config.clock_skew
        self._groups = NotificationGroups(uow_factory, clock, verifier, config.clock_skew, config.intake_groups)
        self._vault = vault
        self._sms: SmsGateway = sms or LocalSmsGateway(None)

    # -- payable items and orders ---------------------------------------------------------------

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
        async with self._uow().for_reading() as uow:
            found = await items.list_payable_items(
                request.payer_id_number,
                request.insured_id_number,
                request.insured_name,
                request.include_settled,
                page,
                uow,
                self._clock,
            )
        token = items.items_token(page, found)
        return pb.ListPayableItemsResponse(
            payable_items=[convert.item_to_proto(i) for i in found], next_page_token=token
        )

    async def CreateOrder(self, request: pb.CreateOrderRequest, context: Context) -> pb.CreateOrderResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.CreateOrderResponse:
            order = await orders.create_order(
                request.payer_id_number, list(request.payable_item_ids), uow, self._clock, self._config.order_ttl
            )
            return pb.CreateOrderResponse(order=convert.order_to_proto(order))

        return await run_mutation(self._uow, "CreateOrder", request, pb.CreateOrderResponse, action)

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        async with self._uow() as uow:
            order = await orders.payer_order(uow, request.payer_id_number, request.order_id)
        return pb.GetOrderResponse(order=convert.order_to_proto(order))

    async def ListOrders(self, request: pb.ListOrdersRequest, context: Context) -> pb.ListOrdersResponse:
        status = convert.order_status(request.status)
        page = page_request(
            request.page_size,
            request.page_token,
            filters={"payer": request.payer_id_number, "status": status},
            default=20,
            maximum=100,
        )
        async with self._uow() as uow:
            found = await orders.list_orders(request.payer_id_number, status, page, uow)
        token = orders.orders_token(page, found)
        return pb.ListOrdersResponse(orders=[convert.order_to_proto(o) for o in found], next_page_token=token)

    async def ReinitiateOrder(self, request: pb.ReinitiateOrderRequest, context: Context) -> pb.ReinitiateOrderResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.ReinitiateOrderResponse:
            order = await orders.reinitiate_order(
                request.payer_id_number, request.order_id, uow, self._clock, self._config.order_ttl
            )
            return pb.ReinitiateOrderResponse(order=convert.order_to_proto(order))

        return await run_mutation(self._uow, "ReinitiateOrder", request, pb.ReinitiateOrderResponse, action)

    async def CreateSchoolCollectiveOrder(
        self, request: pb.CreateSchoolCollectiveOrderRequest, context: Context
    ) -> pb.CreateSchoolCollectiveOrderResponse:
        orders.check_student_count(len(request.students))  # before any student is looked at (R41)
        # Each student answered alone, checked (and put in canonical form) before being read.
        students = [_student(s) for s in request.students]

        async def action(uow: CollectionUnitOfWork) -> pb.CreateSchoolCollectiveOrderResponse:
            order, outcomes = await orders.create_school_order(
                request.payer_id_number,
                request.school_code,
                request.insurance_year,
                students,
                uow,
                self._clock,
                self._config.school_order_ttl,
            )
            return pb.CreateSchoolCollectiveOrderResponse(
                order=convert.order_to_proto(order) if order else None,
                students=[convert.student_to_proto(o) for o in outcomes],
            )

        return await run_mutation(
            self._uow, "CreateSchoolCollectiveOrder", request, pb.CreateSchoolCollectiveOrderResponse, action
        )

    # -- payments and receipts ------------------------------------------------------------------

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Context) -> pb.GetReceiptResponse:
        lookup = request.WhichOneof("lookup")
        async with self._uow() as uow:
            receipt = await receipts.payer_receipt(
                request.payer_id_number,
                request.receipt_number if lookup == "receipt_number" else None,
                request.order_id if lookup == "order_id" else None,
                uow,
            )
        return pb.GetReceiptResponse(receipt=convert.receipt_to_proto(receipt))

    async def ListPaymentRecords(
        self, request: pb.ListPaymentRecordsRequest, context: Context
    ) -> pb.ListPaymentRecordsResponse:
        scope = convert.scope(request.scope)
        period = range_from_proto(request.period, field="period") if request.HasField("period") else None
        fee_years = (
            (request.fee_period.start_year, request.fee_period.end_year) if request.HasField("fee_period") else None
        )
        page = page_request(
            request.page_size,
            request.page_token,
            filters={
                "payer": request.payer_id_number,
                "scope": scope,
                "minor": request.minor_id_number,
                "period": period,
                "fee_period": fee_years,
            },
            default=50,
            maximum=200,
        )
        async with self._uow() as uow:
            selection, found = await records.list_payment_records(
                request.payer_id_number, scope, request.minor_id_number, fee_years, period, page, uow, self._clock
            )
        token = records.records_token(page, found)
        return convert.records_response(selection, found, token)

    # -- minors ---------------------------------------------------------------------------------

    async def LinkMinor(self, request: pb.LinkMinorRequest, context: Context) -> pb.LinkMinorResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.LinkMinorResponse:
            minor = await records.link_minor(
                request.payer_id_number, request.minor_id_number, request.minor_name, uow, self._clock
            )
            return pb.LinkMinorResponse(minor=convert.minor_to_proto(minor))

        return await run_mutation(self._uow, "LinkMinor", request, pb.LinkMinorResponse, action)

    async def UnlinkMinor(self, request: pb.UnlinkMinorRequest, context: Context) -> pb.UnlinkMinorResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.UnlinkMinorResponse:
            minor = await records.unlink_minor(request.payer_id_number, request.minor_id_number, uow, self._clock)
            return pb.UnlinkMinorResponse(minor=convert.minor_to_proto(minor))

        return await run_mutation(self._uow, "UnlinkMinor", request, pb.UnlinkMinorResponse, action)

    async def ListLinkedMinors(
        self, request: pb.ListLinkedMinorsRequest, context: Context
    ) -> pb.ListLinkedMinorsResponse:
        async with self._uow() as uow:
            found = await records.linked_minors(request.payer_id_number, uow, self._clock)
        return pb.ListLinkedMinorsResponse(minors=[convert.minor_to_proto(m) for m in found])

    # -- family mutual-aid accounts -------------------------------------------------------------

    async def GetFamilyAccount(
        self, request: pb.GetFamilyAccountRequest, context: Context
    ) -> pb.GetFamilyAccountResponse:
        async with self._uow() as uow:
            account = await records.family_account(request.holder_id_number, uow, self._clock)
        return pb.GetFamilyAccountResponse(account=convert.family_account_to_proto(account))

    async def UpdateFamilyAccount(
        self, request: pb.UpdateFamilyAccountRequest, context: Context
    ) -> pb.UpdateFamilyAccountResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.UpdateFamilyAccountResponse:
            account = await records.update_family_account(
                request.holder_id_number, request.balance_fen, uow, self._clock
            )
            return pb.UpdateFamilyAccountResponse(account=convert.family_account_to_proto(account))

        return await run_mutation(self._uow, "UpdateFamilyAccount", request, pb.UpdateFamilyAccountResponse, action)


def _student(ref: pb.StudentRef) -> orders.Student:
    refusal = element_refusal(ref)
    return orders.Student(ref.resident_id_number, ref.name, refusal)
