"""`medins refunds`: refunds (退费, R23) as operators see them; --stuck lists the ones a person must look at:
refused by their channel or unreachable (FAILED, retried on a back-off) and those every attempt failed
(MANUAL_HANDLING, settled with ResolveRefund).

medins refunds list [--stuck | --status SUBMITTED] [--limit 100]
"""

from __future__ import annotations

import argparse

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from ops.cli import services
from ops.cli.show import add_json, emit, enum_name, table, yuan

STUCK = (pb.REFUND_STATUS_MANUAL_HANDLING, pb.REFUND_STATUS_FAILED)
PAGE = 500


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list}")
    listed = actions.add_parser("list", help="refunds oldest first: all, of one state, or the stuck ones")
    which = listed.add_mutually_exclusive_group()
    which.add_argument("--stuck", action="store_true", help="refused by the channel or left to an officer")
    which.add_argument("--status", help="only refunds in this state (PENDING, SUBMITTED, SUCCEEDED, ...)")
    listed.add_argument("--limit", type=int, default=100, help="at most this many per state (default 100)")
    services.add_address(listed, services.COLLECTION)
    add_json(listed)


def _statuses(args: argparse.Namespace) -> tuple[int, ...]:
    if args.stuck:
        return STUCK
    if args.status:
        return (pb.RefundStatus.Value("REFUND_STATUS_" + args.status.upper()),)
    return (pb.REFUND_STATUS_UNSPECIFIED,)


def run(args: argparse.Namespace) -> int:
    found = pb.ListRefundsResponse()
    with services.collection(args) as stub:
        for status in _statuses(args):
            token, before = "", len(found.refunds)
            while len(found.refunds) - before < args.limit:
                page = stub.ListRefunds(
                    pb.ListRefundsRequest(status=status, page_size=min(PAGE, args.limit), page_token=token),  # type: ignore[arg-type]
                    timeout=services.DEFAULT_TIMEOUT_SECONDS,
                )
                found.refunds.extend(page.refunds)
                token = page.next_page_token
                if not token:
                    break
    rows = [
        (
            r.refund_id,
            enum_name("REFUND_STATUS_", pb.RefundStatus.Name(r.status)),
            enum_name("PAYMENT_CHANNEL_", common_pb2.PaymentChannel.Name(r.channel)),
            yuan(r.amount_fen),
            r.failure_reason or "-",
        )
        for r in found.refunds
    ]
    lines = table(("refund", "state", "channel", "amount", "why"), rows) if rows else ["no refunds"]
    emit(args, found, lines)
    return 0
