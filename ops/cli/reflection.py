"""`medins grpc`: any RPC by reflection (ops/grpc_cli.py), with the CLI's errors: a mistyped field or an
unknown method is one line, a refused call its code, reason and field violations.

    medins grpc list [--service registration | --address HOST:PORT]
    medins grpc describe medins.registration.v1.RegistrationService
    medins grpc call medins.registration.v1.RegistrationService/ListRegions '{"pageSize": 2}'
"""

from __future__ import annotations

import argparse

import grpc

from ops import grpc_cli
from ops.cli import services
from ops.cli.errors import CallFailed, CliError, refusal_of

# The service a fully qualified name belongs to, to find its default address.
_PACKAGES = {
    "medins.registration.": services.REGISTRATION,
    "medins.enrollment.": services.ENROLLMENT,
    "medins.collection.": services.COLLECTION,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,describe,call}")
    listed = actions.add_parser("list", help="the services a server offers")
    listed.add_argument(
        "--service",
        choices=[services.REGISTRATION, services.ENROLLMENT, services.COLLECTION],
        default=services.REGISTRATION,
        help="which server (default registration)",
    )
    describe = actions.add_parser("describe", help="the methods of a service")
    describe.add_argument("symbol", metavar="SERVICE", help="e.g. medins.registration.v1.RegistrationService")
    call = actions.add_parser("call", help="call a method with a JSON request")
    call.add_argument("method", metavar="METHOD", help="package.Service/Method")
    call.add_argument("body", nargs="?", default="{}", help="the request as JSON (proto3 JSON names)")
    call.add_argument("-H", "--header", action="append", default=[], help="metadata key=value, repeatable")
    call.add_argument("--timeout", type=float, default=services.DEFAULT_TIMEOUT_SECONDS)
    for action in (listed, describe, call):
        action.add_argument("--address", metavar="HOST:PORT", help="the server (default: from the name, settings)")


def service_of(name: str) -> str:
    """Which of our services a symbol belongs to."""
    for prefix, service in _PACKAGES.items():
        if name.startswith(prefix):
            return service
    raise CliError(f"{name!r} is not one of ours (medins.registration|enrollment|collection...); give --address")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        service = args.service
    else:
        service = service_of(args.symbol if args.action == "describe" else args.method)
    address = args.address or services.default_address(service)
    try:
        if args.action == "list":
            print("\n".join(grpc_cli.list_services(address)))
        elif args.action == "describe":
            print(grpc_cli.describe(address, args.symbol))
        else:
            headers = []
            for header in args.header:
                key, sep, value = header.partition("=")
                if not sep:
                    raise CliError(f"header {header!r} is not key=value")
                headers.append((key, value))
            print(grpc_cli.call(address, args.method, args.body, headers, args.timeout))
    except grpc_cli.RequestError as exc:
        raise CliError(str(exc)) from None
    except grpc.RpcError as error:
        raise CallFailed(service, address, refusal_of(error)) from None
    return 0
