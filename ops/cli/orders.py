"""How orders, payable items and receipts are shown (order, pay, receipt)."""

from __future__ import annotations

from collections.abc import Sequence

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from ops.cli.show import enum_name, range_text, table, time_text, yuan
from services.common.resident_id import mask


def fee_type(value: int) -> str:
    return enum_name("FEE_TYPE_", common_pb2.FeeType.Name(common_pb2.FeeType.ValueType(value)))


def items(found: Sequence[pb.PayableItem]) -> list[str]:
    if not found:
        return ["(no payable items)"]
    return table(
        ("ITEM", "NAME", "YEAR", "FEE", "AMOUNT", "STATUS", "PAYABLE UNTIL", "PENDING ORDER"),
        [
            (
                i.payable_item_id,
                i.insured_name,
                i.insurance_year,
                fee_type(i.fee_type),
                yuan(i.amount_fen),
                enum_name("PAYABLE_ITEM_STATUS_", pb.PayableItemStatus.Name(i.status)),
                f"{i.payable_until.year:04d}-{i.payable_until.month:02d}-{i.payable_until.day:02d}",
                i.pending_order_id or "",
            )
            for i in found
        ],
    )


def order(o: pb.Order) -> list[str]:
    status = enum_name("ORDER_STATUS_", pb.OrderStatus.Name(o.status))
    lines = [f"order {o.order_id}: {status}, total {yuan(o.total_fen)}"]
    if o.status == pb.ORDER_STATUS_PENDING:
        lines.append(f"  pay before {time_text(o.expire_time)}")
    if o.receipt_number:
        lines.append(f"  paid {time_text(o.paid_time)}, payment {o.payment_id}, receipt {o.receipt_number}")
    lines += [
        f"  {line.insured_name} {mask(line.insured_id_number)} {line.insurance_year} {fee_type(line.fee_type)}: "
        f"{yuan(line.amount_fen)}"
        for line in o.lines
    ]
    return lines


def receipt(r: pb.Receipt) -> list[str]:
    channel = enum_name("PAYMENT_CHANNEL_", common_pb2.PaymentChannel.Name(r.channel))
    lines = [
        f"receipt {r.receipt_number} (电子缴款凭证)"
        + (f", REVERSED {time_text(r.reverse_time)}" if r.reversed else ""),
        f"  order {r.order_id}, payment {r.payment_id}, {channel}, paid {time_text(r.paid_time)}, "
        f"total {yuan(r.total_fen)}, issued {time_text(r.issue_time)}",
    ]
    lines += [
        f"  {line.insured_name} {mask(line.insured_id_number)} {line.insurance_year} {fee_type(line.fee_type)}: "
        f"{yuan(line.amount_fen)}, covers {range_text(line.coverage_period)}"
        for line in r.lines
    ]
    return lines
