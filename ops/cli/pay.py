"""`medins pay`: a development helper that pays an order as a payment channel would. It builds the
channel's callback as that channel sends it, signed by its simulator with the development keys of
`make channel-keys` (ops/cli/payloads.py, ops/channel_sim: no secret shared between channels, R42),
POSTs it — body and headers — to the HTTPS callback endpoint at the channel's own path (R44; `make run`
starts it; ops/cli/callback_post.py), checks the answer in the channel's protocol, then reads the order
and its receipt over gRPC (GetOrder, GetReceipt) and prints the outcome and the receipt. One intake
either way: the callback is stored with its outcome (R21b). `--grpc` sends it over NotifyPayment
instead (R20, R21), as before the endpoint existed.

    medins pay ORDER --channel wechat --payer 320402198001017599
    medins pay ORDER --channel alipay --payer ... [--amount 420.00] [--paid-at 2026-11-28T10:00:00+08:00]
    medins pay ORDER --channel wechat --payer ... --callbacks-url https://127.0.0.1:50060 | --grpc

The amount defaults to the order's total and the payment time to the system's clock (MEDINS_CLOCK_FILE
when set), so the payment is applied; give others to see an amount mismatch (R22) or a late payment."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from ops.channel_sim.dev_keys import configured_root
from ops.cli import callback_post, orders, payloads, services
from ops.cli.errors import CliError
from ops.cli.policies import amount
from ops.cli.show import choices, enum_name, note, yuan
from services.collection.domain.model import Channel
from services.common.clock import clock_from_file
from services.common.settings import load_settings


def channel(text: str) -> Channel:
    try:
        return payloads.channel_named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def paid_at(text: str) -> dt.datetime:
    try:
        instant = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-11-28T10:00:00+08:00"
        ) from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +08:00")
    return instant


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("order_id", metavar="ORDER")
    parser.add_argument(
        "--channel",
        type=channel,
        required=True,
        help="the paying channel: " + choices(c.value for c in payloads.NOTIFYING),
    )
    parser.add_argument("--payer", required=True, help="the order's payer (to read its total and the receipt)")
    parser.add_argument("--amount", type=amount, metavar="YUAN", help="amount paid (default: the order's total)")
    parser.add_argument("--paid-at", type=paid_at, metavar="ISO_TIME", help="when the money moved (default: now)")
    parser.add_argument("--transaction-id", help="the channel's transaction id (default: a new one); reuse to resend")
    parser.add_argument("--holder", help="family mutual-aid account holder's ID number (default: the payer)")
    parser.add_argument(
        "--channel-keys",
        metavar="DIR",
        help="the channel simulators' keys (default: beside MEDINS_CHANNEL_KEYS_DIR, make channel-keys)",
    )
    way = parser.add_mutually_exclusive_group()
    way.add_argument(
        "--callbacks-url",
        metavar="URL",
        help="the HTTPS callback endpoint (default: 127.0.0.1:MEDINS_CALLBACKS_PORT, trusting make certs' CA)",
    )
    way.add_argument("--grpc", action="store_true", help="send the callback over NotifyPayment, not the endpoint")
    services.add_address(parser, services.COLLECTION)
    services.add_request_id(parser)
    parser.add_argument("--json", action="store_true", help="print the outcome and the receipt as JSON")


def _now() -> dt.datetime:
    settings = load_settings()
    try:
        return clock_from_file(settings.clock_file).now()
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the clock file {settings.clock_file}: {exc}; give --paid-at") from None


def _through_endpoint(
    args: argparse.Namespace, stub: Any, chosen: Channel, headers: dict[str, str], body: bytes
) -> pb.NotifyPaymentResponse:
    """The callback through the HTTPS endpoint (R44); an applied payment confirmed by the order as the
    collection service reads it (GetOrder: PAID by this payment, its receipt)."""
    settings = load_settings()
    base = args.callbacks_url or callback_post.default_url(settings)
    response = callback_post.deliver(base, chosen, headers, body, settings)
    if response.outcome != pb.NOTIFICATION_OUTCOME_APPLIED:
        return response
    order = stub.GetOrder(
        pb.GetOrderRequest(payer_id_number=args.payer, order_id=response.order_id or args.order_id),
        timeout=services.DEFAULT_TIMEOUT_SECONDS,
    ).order
    if order.status != pb.ORDER_STATUS_PAID or order.payment_id != response.payment_id:
        status = enum_name("ORDER_STATUS_", pb.OrderStatus.Name(order.status))
        raise CliError(
            f"the callback endpoint applied payment {response.payment_id}, but order {order.order_id} is {status}"
            f" with payment {order.payment_id or 'none'}",
            1,
        )
    response.receipt_number = order.receipt_number
    return response


def run(args: argparse.Namespace) -> int:
    chosen: Channel = args.channel
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.collection(args) as stub:
        total = args.amount
        if total is None:
            order = stub.GetOrder(
                pb.GetOrderRequest(payer_id_number=args.payer, order_id=args.order_id), timeout=timeout
            )
            total = order.order.total_fen
            if order.order.status != pb.ORDER_STATUS_PENDING:
                status = enum_name("ORDER_STATUS_", pb.OrderStatus.Name(order.order.status))
                note(f"order {args.order_id} is {status}: a payment for it is recorded and refunded (R23)")
        payment = payloads.ChannelPayment(
            order_id=args.order_id,
            amount_fen=total,
            paid_at=args.paid_at or _now(),
            transaction_id=args.transaction_id or uuid.uuid4().hex,
            holder_id_number=(args.holder or args.payer) if chosen is Channel.FAMILY_MUTUAL_AID else "",
        )
        keys = Path(args.channel_keys) if args.channel_keys else configured_root()
        try:
            headers, body = payloads.callback(chosen, payment, keys, sent_at=_now())
        except OSError as exc:
            raise CliError(f"no channel simulator keys in {keys} ({exc}); run `make channel-keys`") from None
        if args.grpc:
            response = stub.NotifyPayment(
                pb.NotifyPaymentRequest(
                    request_id=services.request_id(args),
                    channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{chosen.value}"),
                    payload=body,
                    headers=[pb.NotificationHeader(name=name, content=value) for name, value in headers.items()],
                ),
                timeout=timeout,
            )
        else:
            response = _through_endpoint(args, stub, chosen, headers, body)
        receipt = None
        if response.receipt_number:
            receipt = stub.GetReceipt(
                pb.GetReceiptRequest(payer_id_number=args.payer, receipt_number=response.receipt_number),
                timeout=timeout,
            ).receipt
    if args.json:
        document = {"notification": json_format.MessageToDict(response, preserving_proto_field_name=True)}
        if receipt is not None:
            document["receipt"] = json_format.MessageToDict(receipt, preserving_proto_field_name=True)
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    outcome = enum_name("NOTIFICATION_OUTCOME_", pb.NotificationOutcome.Name(response.outcome))
    print(
        f"{chosen.value} notified {yuan(total)} for order {response.order_id}: {outcome}, payment {response.payment_id}"
    )
    if response.refund_id:
        print(f"  refund {response.refund_id} raised: the money goes back to the payer (R23)")
    if receipt is not None:
        for line in orders.receipt(receipt):
            print(line)
    return 0
