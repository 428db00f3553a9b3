"""CollectionService over gRPC: translate, call the use case, respond. No rules here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc

from services.collection import convert, notification_intake, reports_convert
from services.collection.card_vault import CardVault
from services.collection.channels.signature import SignatureVerifier
from services.collection.domain.reconciliation import checked_chunk
from services.collection.gateways.sms import LocalSmsGateway, SmsGateway
from services.collection.grpc_resident_api import ResidentApi
from services.collection.handlers import agreements, items, orders, reconciliation, records, refunds, results
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from services.common.mutations import run_mutation
from services.common.pagination import page_request
from services.common.proto_values import date_from_proto, range_from_proto
from services.common.validation import element_refusal

Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class CollectionConfig:
    order_ttl: dt.timedelta
    school_order_ttl: dt.timedelta
    clock_skew: dt.timedelta


class CollectionServicer(ResidentApi, pb_grpc.CollectionServiceServicer):
    def __init__(
        self,
        uow_factory: Callable[[], CollectionUnitOfWork],
        clock: Clock,
        verifier: SignatureVerifier,
        config: CollectionConfig,
        *,
        vault: CardVault,
        sms: SmsGateway | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._verifier = verifier
        self._config = config
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
        token = (
            page.next_token((found[-1].insurance_year, found[-1].fee_type.value, found[-1].payable_item_id), len(found))
            if found
            else ""
        )
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
        cursor = page.cursor_of(2)
        async with self._uow() as uow:
            found = await uow.orders.list_for_payer(
                request.payer_id_number.strip().upper(), status, (cursor[0], cursor[1]) if cursor else None, page.size
            )
        token = page.next_token((found[-1].created_at.isoformat(), found[-1].order_id), len(found)) if found else ""
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

    async def NotifyPayment(self, request: pb.NotifyPaymentRequest, context: Context) -> pb.NotifyPaymentResponse:
        return await notification_intake.notify(
            request, self._uow, self._clock, self._verifier, self._config.clock_skew
        )

    async def NotifyPayments(self, request: pb.NotifyPaymentsRequest, context: Context) -> pb.NotifyPaymentsResponse:
        return await notification_intake.notify_many(
            request, self._uow, self._clock, self._verifier, self._config.clock_skew
        )

    async def record_refusal(self, method: str, request: Message | None, raw: bytes, error: DomainError) -> None:
        """The call policy's hook for what the edge refuses: a refused notification is still stored (R21b).
        A batch the edge refuses whole (bytes that do not parse, more notifications than it takes) is one
        refused request: one record, sampled from its first notification, and nothing per element (R41)."""
        if method == "NotifyPayment":
            notification = request if isinstance(request, pb.NotifyPaymentRequest) else None
            await notification_intake.record_edge_refusal(notification, raw, error, self._uow, self._clock)
        elif method == "NotifyPayments":
            batch = request if isinstance(request, pb.NotifyPaymentsRequest) else None
            first = batch.notifications[0] if batch is not None and batch.notifications else None
            await notification_intake.record_edge_refusal(
                first, raw if batch is None else b"", error, self._uow, self._clock
            )

    async def GetReceipt(self, request: pb.GetReceiptRequest, context: Context) -> pb.GetReceiptResponse:
        lookup = request.WhichOneof("lookup")
        async with self._uow() as uow:
            receipt = await uow.payments.receipt(
                request.payer_id_number.strip().upper(),
                number=request.receipt_number if lookup == "receipt_number" else None,
                order_id=request.order_id if lookup == "order_id" else None,
            )
            if receipt is None and lookup == "order_id":
                order = await orders.payer_order(uow, request.payer_id_number, request.order_id)
                raise _receipt_not_ready(order.order_id)
        if receipt is None:
            raise NotFound("RECEIPT_NOT_FOUND", "receipt not found", "缴款凭证不存在", field=lookup or "receipt_number")
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
        token = (
            page.next_token(
                (
                    found[-1].insured_id_number,
                    found[-1].paid_at.isoformat(),
                    found[-1].payment_id,
                    found[-1].payable_item_id,
                ),
                len(found),
            )
            if found
            else ""
        )
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
        page = page_request(request.page_size, request.page_token, filters={"status": status}, default=50, maximum=500)
        cursor = page.cursor_of(2)
        async with self._uow() as uow:
            found = await uow.refunds.list_refunds(status, (cursor[0], cursor[1]) if cursor else None, page.size)
        token = page.next_token((found[-1].created_at.isoformat(), found[-1].refund_id), len(found)) if found else ""
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

    # -- deduction agreements (R27) ---------------------------------------------------------------

    async def CreateDeductionAgreement(
        self, request: pb.CreateDeductionAgreementRequest, context: Context
    ) -> pb.CreateDeductionAgreementResponse:
        command = reports_convert.sign_command(request)

        async def action(uow: CollectionUnitOfWork) -> pb.CreateDeductionAgreementResponse:
            agreement = await agreements.sign_agreement(command, uow, self._clock, self._vault, self._sms)
            return pb.CreateDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        # The request id's fingerprint is stored: it is taken over a keyed digest of the card, not the card.
        fingerprinted = pb.CreateDeductionAgreementRequest()
        fingerprinted.CopyFrom(request)
        fingerprinted.card_number = self._vault.blind(request.card_number)
        return await run_mutation(
            self._uow, "CreateDeductionAgreement", fingerprinted, pb.CreateDeductionAgreementResponse, action
        )

    async def ConfirmDeductionAgreement(
        self, request: pb.ConfirmDeductionAgreementRequest, context: Context
    ) -> pb.ConfirmDeductionAgreementResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.ConfirmDeductionAgreementResponse:
            agreement = await agreements.confirm_agreement(
                request.payer_id_number, request.agreement_id, request.verification_code, uow, self._clock
            )
            return pb.ConfirmDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        return await agreements.confirm_counting_wrong_codes(
            self._uow, request, pb.ConfirmDeductionAgreementResponse, action, self._clock
        )

    async def ListDeductionAgreements(
        self, request: pb.ListDeductionAgreementsRequest, context: Context
    ) -> pb.ListDeductionAgreementsResponse:
        async with self._uow() as uow:
            found = await agreements.list_agreements(request.payer_id_number, uow, self._clock)
        return pb.ListDeductionAgreementsResponse(agreements=[reports_convert.agreement_to_proto(a) for a in found])

    async def RevokeDeductionAgreement(
        self, request: pb.RevokeDeductionAgreementRequest, context: Context
    ) -> pb.RevokeDeductionAgreementResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.RevokeDeductionAgreementResponse:
            agreement = await agreements.revoke_agreement(
                request.payer_id_number, request.agreement_id, uow, self._clock
            )
            return pb.RevokeDeductionAgreementResponse(agreement=reports_convert.agreement_to_proto(agreement))

        return await run_mutation(
            self._uow, "RevokeDeductionAgreement", request, pb.RevokeDeductionAgreementResponse, action
        )

    # -- reconciliation (R30) and results (R29) ---------------------------------------------------

    async def ImportChannelSettlement(
        self, request: pb.ImportChannelSettlementRequest, context: Context
    ) -> pb.ImportChannelSettlementResponse:
        channel = convert.channel(request.channel)
        day = date_from_proto(request.settlement_date, field="settlement_date")
        chunk = checked_chunk(
            request.upload_id, request.chunk_index, request.chunk_count, len(request.records), request.request_id
        )
        lines = reports_convert.settlement_lines(request, single_chunk=chunk.count == 1)

        async def action(uow: CollectionUnitOfWork) -> pb.ImportChannelSettlementResponse:
            result = await reconciliation.import_settlement(channel, day, chunk, lines, uow, self._clock)
            return pb.ImportChannelSettlementResponse(
                record_count=result.record_count,
                complete=result.complete,
                report_version=result.version,
                unchanged=result.unchanged,
                chunks_received=result.chunks_received,
            )

        return await run_mutation(
            self._uow, "ImportChannelSettlement", request, pb.ImportChannelSettlementResponse, action
        )

    async def GetReconciliationReport(
        self, request: pb.GetReconciliationReportRequest, context: Context
    ) -> pb.GetReconciliationReportResponse:
        channel = convert.channel(request.channel)
        day = date_from_proto(request.settlement_date, field="settlement_date")
        async with self._uow() as uow:
            report = await reconciliation.reconciliation_report(channel, day, request.version, uow)
        return reports_convert.report_to_proto(report)

    async def GetCollectionResults(
        self, request: pb.GetCollectionResultsRequest, context: Context
    ) -> pb.GetCollectionResultsResponse:
        async with self._uow() as uow:
            found = await results.collection_results(request.region_code, request.insurance_year, uow, self._clock)
        return reports_convert.results_to_proto(found)


def _receipt_not_ready(order_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        "RECEIPT_NOT_AVAILABLE",
        f"order {order_id} is not paid; a receipt exists only for a completed payment",
        "缴费尚未完成,暂不能打印电子缴款凭证",
        metadata={"order_id": order_id},
    )


def _student(ref: pb.StudentRef) -> orders.Student:
    refusal = element_refusal(ref)
    return orders.Student(ref.resident_id_number, ref.name, refusal)
