"""`medins person`: one person's timeline across both agencies, so an officer can answer "why am I not
covered yet?" in one command (R37-R39): registrations in every region, the years assessed, the person's
orders (paid, pending, expired), payments and every refund of their payments, a payment that applied
nothing included (a double payment, one outside the window: R20, R23), each grant with its waiting period
and why, repairs, and the incentive.

medins person 320402198001017599
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import services
from ops.cli.errors import CallFailed, refusal_of
from ops.cli.show import add_json, date_text, emit, enum_name, range_text, time_text, yuan
from services.common.periods import CST
from services.common.resident_id import mask

T = TypeVar("T")

Line = tuple[str, str]  # (sort key: an ISO time or date, text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident ID number")
    add_json(parser)


def registration_lines(found: pb.GetPersonCoverageResponse) -> list[Line]:
    """Each enrollment in any region, when it was registered and stopped, and its years assessed."""
    lines: list[Line] = []
    for e in found.enrollments:
        category = enum_name("CATEGORY_", common_pb2.Category.Name(e.category))
        state = enum_name("ENROLLMENT_STATE_", common_pb2.EnrollmentState.Name(e.state))
        lines.append((_iso(e.create_time), f"registered in {e.region_code} as {category}; now {state}"))
        if e.HasField("stop_time") and e.stop_time.seconds:
            reason = enum_name("STOP_REASON_", pb.StopReason.Name(e.stop_reason))
            lines.append((_iso(e.stop_time), f"stopped in {e.region_code}: {reason}"))
        for y in e.years:
            status = enum_name("ENROLLMENT_YEAR_STATUS_", pb.EnrollmentYearStatus.Name(y.status))
            text = f"  {y.insurance_year} assessed in {e.region_code}, {range_text(y.coverage_period)}: {status}"
            if y.HasField("covered_from"):
                text += f", paid {date_text(y.paid_on)}, covered from {date_text(y.covered_from)}"
            lines.append((_iso(e.create_time), text))
    return lines


def coverage_lines(found: pb.GetPersonCoverageResponse) -> list[Line]:
    """Each grant, restart and withdrawal with its wait and why; the repaired years; the incentive."""
    lines: list[Line] = []
    regions = {e.enrollment_id: e.region_code for e in found.enrollments}
    for r in found.records:
        where = regions.get(r.enrollment_id, "?")
        if r.kind == "WITHDRAWAL":
            text = f"coverage of {r.insurance_year} ({where}) withdrawn: payment {r.payment_id} refunded"
        else:
            verb = "granted" if r.kind == "GRANT" else "start moved earlier"
            text = (
                f"coverage of {r.insurance_year} ({where}) {verb} from {date_text(r.coverage_start)}: {r.explanation}"
            )
        lines.append((_iso(r.record_time), text))
    if found.repaired_years:
        lines.append(("9999", "repaired years: " + ", ".join(str(y) for y in found.repaired_years)))
    for i in found.incentive:
        lines.append(
            (
                "9999",
                f"incentive {i.insurance_year}: {i.continuous_years} continuous years before, serious-illness cap "
                f"{yuan(i.serious_illness_cap_fen)}",
            )
        )
    return lines


def tax_lines(records: list[col.PaymentRecord]) -> list[Line]:
    return [
        (
            _iso(r.paid_time),
            f"paid {yuan(r.amount_fen)} for {r.insurance_year} "
            f"({enum_name('FEE_TYPE_', common_pb2.FeeType.Name(r.fee_type))}) by "
            f"{enum_name('PAYMENT_CHANNEL_', common_pb2.PaymentChannel.Name(r.channel))}, receipt {r.receipt_number}"
            + (" - refunded" if r.reversed else ""),
        )
        for r in records
    ]


def order_lines(orders: list[col.Order]) -> list[Line]:
    """Each order the person made (R19): what it holds, for how much, and what became of it."""
    lines: list[Line] = []
    for o in orders:
        status = enum_name("ORDER_STATUS_", col.OrderStatus.Name(o.status))
        items = ", ".join(
            f"{line.insurance_year} {enum_name('FEE_TYPE_', common_pb2.FeeType.Name(line.fee_type))}"
            + (f" of {mask(line.insured_id_number)}" if line.insured_id_number != o.payer_id_number else "")
            for line in o.lines
        )
        if o.status == col.ORDER_STATUS_PAID:
            fate = f"paid {time_text(o.paid_time)}, receipt {o.receipt_number or '-'}"
        elif o.status == col.ORDER_STATUS_PENDING:
            fate = f"unpaid, expires {time_text(o.expire_time)}"
        else:
            fate = f"not paid, expired {time_text(o.expire_time)}"
        lines.append(
            (_iso(o.create_time), f"order {o.order_id}: {status} {yuan(o.total_fen)} for {items or '-'}; {fate}")
        )
    return lines


def refund_lines(refunds: list[col.Refund]) -> list[Line]:
    """Every refund of the person's payments, one that applied nothing included (R20, R23)."""
    return [
        (
            _iso(r.create_time),
            f"refund {r.refund_id} of {yuan(r.amount_fen)} "
            f"({enum_name('REFUND_REASON_', col.RefundReason.Name(r.reason))}) for payment {r.payment_id}: "
            f"{enum_name('REFUND_STATUS_', col.RefundStatus.Name(r.status))}"
            + (f" ({r.failure_reason})" if r.failure_reason else ""),
        )
        for r in refunds
    ]


def _all_pages(page: Callable[[str], tuple[list[T], str]]) -> list[T]:
    """Every element of a listing, one page after the other (`page(token)` answers a page and the next token)."""
    found: list[T] = []
    token = ""
    while True:
        items, token = page(token)
        found += items
        if not token:
            return found


def _orders(stub: CollectionServiceStub, number: str) -> list[col.Order]:
    def page(token: str) -> tuple[list[col.Order], str]:
        reply = stub.ListOrders(
            col.ListOrdersRequest(payer_id_number=number, page_size=100, page_token=token),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
        return list(reply.orders), reply.next_page_token

    return _all_pages(page)


def _refunds(stub: CollectionServiceStub, number: str) -> list[col.Refund]:
    def page(token: str) -> tuple[list[col.Refund], str]:
        reply = stub.ListRefunds(
            col.ListRefundsRequest(payer_id_number=number, page_size=500, page_token=token),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
        return list(reply.refunds), reply.next_page_token

    return _all_pages(page)


def _tax_side(args: argparse.Namespace, number: str) -> tuple[list[col.Order], list[col.Refund]]:
    """The person's orders and the refunds of their payments (tax)."""
    with services.collection(args) as stub:
        return _orders(stub, number), _refunds(stub, number)


def _records(args: argparse.Namespace, number: str, years: list[int]) -> list[col.PaymentRecord]:
    """The person's own payment records, two benefit years at a time (R25, R47)."""
    found: list[col.PaymentRecord] = []
    with services.collection(args) as stub:
        for start in range(min(years), max(years) + 1, 2):
            token = ""
            while True:
                reply = stub.ListPaymentRecords(
                    col.ListPaymentRecordsRequest(
                        payer_id_number=number,
                        scope=col.RECORD_SCOPE_MINE,
                        fee_period=col.FeePeriod(start_year=start, end_year=min(start + 1, max(years))),
                        page_size=200,
                        page_token=token,
                    ),
                    timeout=services.DEFAULT_TIMEOUT_SECONDS,
                )
                found += [r for g in reply.groups for r in g.records]
                token = reply.next_page_token
                if not token:
                    break
    return found


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        coverage = stub.GetPersonCoverage(
            pb.GetPersonCoverageRequest(resident_id_number=args.id_number), timeout=services.DEFAULT_TIMEOUT_SECONDS
        )
    # The years assessed and the missed years repaired: a repair's fee belongs to the missed year (R47).
    years = sorted({y.insurance_year for e in coverage.enrollments for y in e.years} | set(coverage.repaired_years))
    try:
        records = _records(args, args.id_number, years) if years else []
        orders, refunds = _tax_side(args, args.id_number)
    except grpc.RpcError as error:
        raise CallFailed(
            services.COLLECTION, services.address_of(args, services.COLLECTION), refusal_of(error)
        ) from None
    # In time order; at the same moment (a frozen clock, one call doing several) in the order things
    # happen: registered and assessed, ordered, paid, refunded, granted (the sort is stable).
    timeline = sorted(
        registration_lines(coverage)
        + order_lines(orders)
        + tax_lines(records)
        + refund_lines(refunds)
        + coverage_lines(coverage),
        key=lambda line: line[0],
    )
    lines = [
        f"{mask(args.id_number)}: {len(coverage.enrollments)} enrollments, {len(orders)} orders, "
        f"{len(records)} payment records, {len(refunds)} refunds"
    ]
    lines += [f"  {key[:16].replace('T', ' ') if key != '9999' else '':16}  {text}" for key, text in timeline]
    emit(args, coverage, lines)
    return 0


def _iso(value: object) -> str:
    seconds = getattr(value, "seconds", 0)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).astimezone(CST).isoformat() if seconds else "0000"
