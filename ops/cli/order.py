"""`medins order`: what a person owes (R18) and an order to pay it (R19), as a payer sees them.

medins order items --payer 320402198001017599 --insured 320402198001017599 --name 张三
medins order create --payer 320402198001017599 --insured 320402198001017599 --name 张三 [--item ID ...]
medins order show ORDER --payer 320402198001017599
"""

from __future__ import annotations

import argparse

from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub

from ops.cli import orders, services
from ops.cli.errors import CliError
from ops.cli.show import add_json, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{items,create,show}")
    listed = actions.add_parser("items", help="a person's payable items (ID number and name must match)")
    create = actions.add_parser("create", help="a pending order over a person's unpaid items")
    for action in (listed, create):
        action.add_argument("--payer", required=True, help="the payer's resident ID number")
        action.add_argument("--insured", help="the insured person's ID number (default: the payer)")
        action.add_argument("--name", required=True, help="the insured person's name")
    listed.add_argument("--all", action="store_true", help="also paid, subsidised and cancelled items")
    create.add_argument("--item", action="append", default=[], help="only this item, repeatable (default: all unpaid)")
    services.add_request_id(create)
    show = actions.add_parser("show", help="an order and its composition")
    show.add_argument("order_id", metavar="ORDER")
    show.add_argument("--payer", required=True, help="the payer's resident ID number")
    for action in (listed, create, show):
        services.add_address(action, services.COLLECTION)
        add_json(action)


def _items(stub: CollectionServiceStub, args: argparse.Namespace) -> pb.ListPayableItemsResponse:
    found = pb.ListPayableItemsResponse()
    token = ""
    while True:
        page = stub.ListPayableItems(
            pb.ListPayableItemsRequest(
                payer_id_number=args.payer,
                insured_id_number=args.insured or args.payer,
                insured_name=args.name,
                include_settled=getattr(args, "all", False),
                page_size=200,
                page_token=token,
            ),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
        found.payable_items.extend(page.payable_items)
        token = page.next_page_token
        if not token:
            return found


def run(args: argparse.Namespace) -> int:
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.collection(args) as stub:
        if args.action == "show":
            shown = stub.GetOrder(
                pb.GetOrderRequest(payer_id_number=args.payer, order_id=args.order_id), timeout=timeout
            )
            emit(args, shown, orders.order(shown.order))
            return 0
        found = _items(stub, args)
        if args.action == "items":
            emit(args, found, orders.items(found.payable_items))
            return 0
        chosen = args.item or [
            i.payable_item_id
            for i in found.payable_items
            if i.status == pb.PAYABLE_ITEM_STATUS_UNPAID and not i.pending_order_id
        ]
        if not chosen:
            held = sorted({i.pending_order_id for i in found.payable_items if i.pending_order_id})
            raise CliError(
                f"nothing to order: already in pending order {', '.join(held)}"
                if held
                else "nothing to order: no unpaid items yet (a new registration is assessed within seconds; "
                "try again, or see `medins order items`)",
                status=1,
            )
        created = stub.CreateOrder(
            pb.CreateOrderRequest(
                request_id=services.request_id(args), payer_id_number=args.payer, payable_item_ids=chosen
            ),
            timeout=timeout,
        )
        emit(args, created, orders.order(created.order))
    return 0
