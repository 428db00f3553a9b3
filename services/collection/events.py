"""Tax-side domain values → event payloads for the insurance side (R33)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.collection.domain.intake import ApplyPayment
from services.collection.domain.model import Channel, FeeType
from services.common.proto_values import range_to_proto, timestamp


def paid_item(
    *,
    item_id: str,
    enrollment_id: str,
    resident_id_number: str,
    insurance_year: int,
    fee_type: FeeType,
    amount_fen: int,
    coverage: tuple[dt.date, dt.date],
) -> events_pb2.PaidItem:
    return events_pb2.PaidItem(
        payable_item_id=item_id,
        enrollment_id=enrollment_id,
        resident_id_number=resident_id_number,
        insurance_year=insurance_year,
        fee_type=common_pb2.FeeType.Value(f"FEE_TYPE_{fee_type}"),
        amount_fen=amount_fen,
        coverage_period=range_to_proto(*coverage),
    )


def payment_confirmed(
    *,
    payment_id: str,
    order_id: str,
    channel: Channel,
    paid_at: dt.datetime,
    amount_fen: int,
    receipt_number: str,
    items: Sequence[events_pb2.PaidItem],
) -> events_pb2.PaymentConfirmed:
    return events_pb2.PaymentConfirmed(
        payment_id=payment_id,
        order_id=order_id,
        channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel}"),
        paid_time=timestamp(paid_at),
        amount_fen=amount_fen,
        receipt_number=receipt_number,
        items=items,
    )


def payment_refunded(
    *, refund_id: str, payment_id: str, amount_fen: int, refunded_at: dt.datetime, items: Sequence[events_pb2.PaidItem]
) -> events_pb2.PaymentRefunded:
    return events_pb2.PaymentRefunded(
        refund_id=refund_id,
        payment_id=payment_id,
        amount_fen=amount_fen,
        refund_time=timestamp(refunded_at),
        items=items,
    )


def payment_confirmed_of(applied: ApplyPayment) -> events_pb2.PaymentConfirmed:
    """The payment.confirmed event of a payment applied by the intake (R33): what the insurance side
    grants coverage from."""
    result = applied.result
    assert result.receipt_number is not None  # an applied payment always has its receipt
    return payment_confirmed(
        payment_id=result.payment_id,
        order_id=result.order_id,
        channel=applied.payment.channel,
        paid_at=applied.payment.paid_at,
        amount_fen=applied.payment.amount_fen,
        receipt_number=result.receipt_number,
        items=[
            paid_item(
                item_id=i.payable_item_id,
                enrollment_id=i.enrollment_id,
                resident_id_number=i.resident_id_number,
                insurance_year=i.insurance_year,
                fee_type=i.fee_type,
                amount_fen=i.amount_fen,
                coverage=(i.coverage.start, i.coverage.end),
            )
            for i in applied.items
        ],
    )
