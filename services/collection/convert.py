"""Proto ↔ domain for the collection API."""

from __future__ import annotations

from collections.abc import Sequence

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from services.collection.domain.model import (
    Channel,
    FamilyAccount,
    LinkedMinor,
    Order,
    OrderLine,
    OrderStatus,
    PayableItem,
    PaymentOutcome,
    PaymentRecord,
    PaymentResult,
    Receipt,
    Refund,
    RefundStatus,
)
from services.collection.domain.records import FeePeriod, RecordSelection
from services.collection.handlers.orders import StudentOutcome
from services.collection.handlers.records import Scope
from services.common.errors import DomainError
from services.common.proto_values import (
    channel_openings_to_proto,
    date_to_proto,
    enum_from_proto,
    enum_to_proto,
    range_to_proto,
    timestamp,
)


def channel(value: int) -> Channel:
    found = enum_from_proto(Channel, common_pb2.PaymentChannel, value, prefix="PAYMENT_CHANNEL_", field="channel")
    assert found is not None
    return found


def order_status(value: int) -> OrderStatus | None:
    return enum_from_proto(OrderStatus, pb.OrderStatus, value, prefix="ORDER_STATUS_", field="status", required=False)


def refund_status(value: int) -> RefundStatus | None:
    return enum_from_proto(
        RefundStatus, pb.RefundStatus, value, prefix="REFUND_STATUS_", field="status", required=False
    )


def scope(value: int) -> Scope:
    found = enum_from_proto(Scope, pb.RecordScope, value, prefix="RECORD_SCOPE_", field="scope")
    assert found is not None
    return found


def item_to_proto(item: PayableItem) -> pb.PayableItem:
    return pb.PayableItem(
        payable_item_id=item.payable_item_id,
        insured_id_number=item.resident_id_number,
        insured_name=item.insured_name,
        region_code=item.region_code,
        insurance_year=item.insurance_year,
        fee_type=enum_to_proto(common_pb2.FeeType, item.fee_type, prefix="FEE_TYPE_"),
        standard_fen=item.standard_fen,
        subsidy_fen=item.subsidy_fen,
        amount_fen=item.amount_fen,
        status=enum_to_proto(pb.PayableItemStatus, item.status, prefix="PAYABLE_ITEM_STATUS_"),
        collection_window=range_to_proto(item.collection_window.start, item.collection_window.end),
        payable_until=date_to_proto(item.payable_until),
        coverage_period=range_to_proto(item.coverage.start, item.coverage.end),
        newborn_current_year=item.newborn_current_year,
        pending_order_id=item.pending_order_id or "",
        channel_openings=channel_openings_to_proto(item.channel_opens),
    )


def line_to_proto(line: OrderLine) -> pb.OrderLine:
    return pb.OrderLine(
        payable_item_id=line.payable_item_id,
        insured_id_number=line.insured_id_number,
        insured_name=line.insured_name,
        insurance_year=line.insurance_year,
        fee_type=enum_to_proto(common_pb2.FeeType, line.fee_type, prefix="FEE_TYPE_"),
        amount_fen=line.amount_fen,
    )


def order_to_proto(order: Order) -> pb.Order:
    return pb.Order(
        order_id=order.order_id,
        payer_id_number=order.payer_id_number,
        status=enum_to_proto(pb.OrderStatus, order.status, prefix="ORDER_STATUS_"),
        kind=enum_to_proto(pb.OrderKind, order.kind, prefix="ORDER_KIND_"),
        total_fen=order.total_fen,
        lines=[line_to_proto(line) for line in order.lines],
        create_time=timestamp(order.created_at),
        expire_time=timestamp(order.expires_at),
        paid_time=timestamp(order.paid_at),
        payment_id=order.payment_id or "",
        receipt_number=order.receipt_number or "",
        reinitiated_from_order_id=order.reinitiated_from or "",
        school_code=order.school_code or "",
    )


def payment_result_to_proto(result: PaymentResult) -> pb.NotifyPaymentResponse:
    return pb.NotifyPaymentResponse(
        outcome=pb.NotificationOutcome.Value(f"NOTIFICATION_OUTCOME_{result.outcome}"),
        payment_id=result.payment_id,
        order_id=result.order_id,
        receipt_number=result.receipt_number or "",
        refund_id=result.refund_id or "",
    )


def receipt_to_proto(receipt: Receipt) -> pb.Receipt:
    return pb.Receipt(
        receipt_number=receipt.receipt_number,
        payment_id=receipt.payment_id,
        order_id=receipt.order_id,
        payer_id_number=receipt.payer_id_number,
        channel=enum_to_proto(common_pb2.PaymentChannel, receipt.channel, prefix="PAYMENT_CHANNEL_"),
        paid_time=timestamp(receipt.paid_at),
        total_fen=receipt.total_fen,
        lines=[
            pb.ReceiptLine(
                insured_id_number=line.insured_id_number,
                insured_name=line.insured_name,
                insurance_year=line.insurance_year,
                fee_type=enum_to_proto(common_pb2.FeeType, line.fee_type, prefix="FEE_TYPE_"),
                amount_fen=line.amount_fen,
                coverage_period=range_to_proto(line.coverage.start, line.coverage.end),
            )
            for line in receipt.lines
        ],
        issue_time=timestamp(receipt.issued_at),
        reversed=receipt.reversed_at is not None,
        reverse_time=timestamp(receipt.reversed_at),
    )


def refund_to_proto(refund: Refund) -> pb.Refund:
    return pb.Refund(
        refund_id=refund.refund_id,
        payment_id=refund.payment_id,
        channel=enum_to_proto(common_pb2.PaymentChannel, refund.channel, prefix="PAYMENT_CHANNEL_"),
        amount_fen=refund.amount_fen,
        reason=enum_to_proto(pb.RefundReason, refund.reason, prefix="REFUND_REASON_"),
        status=enum_to_proto(pb.RefundStatus, refund.status, prefix="REFUND_STATUS_"),
        channel_refund_id=refund.channel_refund_id or "",
        failure_reason=refund.failure_reason or "",
        attempts=refund.attempts,
        create_time=timestamp(refund.created_at),
        update_time=timestamp(refund.updated_at),
    )


def record_groups(records: Sequence[PaymentRecord]) -> list[pb.InsuredPaymentRecords]:
    """Records of a page, grouped per insured person in the order they came."""
    groups: list[pb.InsuredPaymentRecords] = []
    for record in records:
        if not groups or groups[-1].insured_id_number != record.insured_id_number:
            groups.append(
                pb.InsuredPaymentRecords(insured_id_number=record.insured_id_number, insured_name=record.insured_name)
            )
        groups[-1].records.append(
            pb.PaymentRecord(
                payment_id=record.payment_id,
                receipt_number=record.receipt_number or "",
                order_id=record.order_id,
                paid_time=timestamp(record.paid_at),
                channel=enum_to_proto(common_pb2.PaymentChannel, record.channel, prefix="PAYMENT_CHANNEL_"),
                insured_id_number=record.insured_id_number,
                insured_name=record.insured_name,
                insurance_year=record.insurance_year,
                fee_type=enum_to_proto(common_pb2.FeeType, record.fee_type, prefix="FEE_TYPE_"),
                amount_fen=record.amount_fen,
                reversed=record.reversed,
            )
        )
    return groups


def records_response(
    selection: RecordSelection, records: Sequence[PaymentRecord], next_page_token: str
) -> pb.ListPaymentRecordsResponse:
    """The records of a page with the selection applied: the fee period (R47) or the payment dates (R25)."""
    response = pb.ListPaymentRecordsResponse(groups=record_groups(records), next_page_token=next_page_token)
    if isinstance(selection, FeePeriod):
        response.fee_period.CopyFrom(pb.FeePeriod(start_year=selection.start_year, end_year=selection.end_year))
    else:
        response.period.CopyFrom(range_to_proto(selection.start, selection.end))
    return response


def minor_to_proto(minor: LinkedMinor) -> pb.LinkedMinor:
    return pb.LinkedMinor(
        minor_id_number=minor.minor_id_number, minor_name=minor.minor_name, link_time=timestamp(minor.linked_at)
    )


def family_account_to_proto(account: FamilyAccount) -> pb.FamilyAccount:
    return pb.FamilyAccount(
        holder_id_number=account.holder_id_number,
        balance_fen=account.balance_fen,
        update_time=timestamp(account.updated_at),
    )


def item_error(error: DomainError) -> common_pb2.ItemError:
    return common_pb2.ItemError(
        reason=error.reason, field=error.field or "", message=error.message_zh, metadata=error.metadata
    )


def student_to_proto(outcome: StudentOutcome) -> pb.StudentResult:
    if outcome.item is not None:
        return pb.StudentResult(
            resident_id_number=outcome.resident_id_number,
            included=True,
            payable_item_id=outcome.item.payable_item_id,
            amount_fen=outcome.item.amount_fen,
        )
    assert outcome.error is not None
    return pb.StudentResult(resident_id_number=outcome.resident_id_number, error=item_error(outcome.error))


def payment_result_from_proto(response: pb.NotifyPaymentResponse) -> PaymentResult:
    """The result a stored NotifyPayment response holds (answered again for the same request id)."""
    return PaymentResult(
        outcome=PaymentOutcome(pb.NotificationOutcome.Name(response.outcome).removeprefix("NOTIFICATION_OUTCOME_")),
        payment_id=response.payment_id,
        order_id=response.order_id,
        receipt_number=response.receipt_number or None,
        refund_id=response.refund_id or None,
    )
