"""`medins receipt`: the electronic receipt (电子缴款凭证, R24) of a completed payment, by number or order.

medins receipt --payer 320402198001017599 --order ORDER
medins receipt --payer 320402198001017599 --number RECEIPT
"""

from __future__ import annotations

import argparse

from medins.collection.v1 import collection_service_pb2 as pb

from ops.cli import orders, services
from ops.cli.show import add_json, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--payer", required=True, help="the payer's resident ID number")
    lookup = parser.add_mutually_exclusive_group(required=True)
    lookup.add_argument("--order", help="the order the payment was for")
    lookup.add_argument("--number", help="the receipt number")
    services.add_address(parser, services.COLLECTION)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    request = pb.GetReceiptRequest(payer_id_number=args.payer)
    if args.order:
        request.order_id = args.order
    else:
        request.receipt_number = args.number
    with services.collection(args) as stub:
        response = stub.GetReceipt(request, timeout=services.DEFAULT_TIMEOUT_SECONDS)
    emit(args, response, orders.receipt(response.receipt))
    return 0
