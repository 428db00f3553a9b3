"""A reflection client for any of our servers (no grpcurl on this machine), also `medins grpc ...`:

    python -m ops.grpc_cli list 127.0.0.1:50051
    python -m ops.grpc_cli describe 127.0.0.1:50051 medins.registration.v1.RegistrationService
    python -m ops.grpc_cli call 127.0.0.1:50051 medins.registration.v1.RegistrationService/ListRegions '{}'

It learns the message types from the server's reflection service, so it needs no generated code. A
request that does not fit the method (a mistyped field, a wrong type, bad JSON) or a method the server
does not have is told in one line (RequestError), not with a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any, cast

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2, status_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from services.common.grpc_channels import channel


class RequestError(ValueError):
    """The request cannot be sent as given: an unknown service or method, or JSON that does not fit."""


def _pool(channel: grpc.Channel) -> tuple[ProtoReflectionDescriptorDatabase, descriptor_pool.DescriptorPool]:
    database = ProtoReflectionDescriptorDatabase(channel)
    return database, descriptor_pool.DescriptorPool(database)


def list_services(address: str) -> list[str]:
    with channel(address) as opened:
        database, _ = _pool(opened)
        return sorted(database.get_services())


def describe(address: str, symbol: str) -> str:
    with channel(address) as opened:
        _, pool = _pool(opened)
        service = _service(pool, symbol)
        return "\n".join(
            f"rpc {m.name}({m.input_type.full_name}) returns ({m.output_type.full_name})" for m in service.methods
        )


def _service(pool: descriptor_pool.DescriptorPool, name: str) -> Any:
    """The service's descriptor; KeyError (no such symbol on the server) becomes a RequestError."""
    try:
        return pool.FindServiceByName(name)
    except KeyError:
        raise RequestError(f"the server has no service {name!r} (see `list`)") from None


def call(address: str, method_path: str, body: str, metadata: list[tuple[str, str]], timeout: float) -> str:
    """Calls a unary method with a JSON request; returns the JSON response."""
    service_name, slash, method_name = method_path.rpartition("/")
    if not slash:
        raise RequestError(f"{method_path!r} is not package.Service/Method")
    with channel(address) as opened:
        _, pool = _pool(opened)
        method = _service(pool, service_name).methods_by_name.get(method_name)
        if method is None:
            raise RequestError(f"{service_name} has no method {method_name!r}")
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)
        try:
            request = json_format.Parse(body or "{}", request_type())
        except json_format.ParseError as exc:
            raise RequestError(f"the request does not fit {method.input_type.full_name}: {exc}") from None
        stub = opened.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        response = stub(request, metadata=tuple(metadata), timeout=timeout)
        return json_format.MessageToJson(response, ensure_ascii=False)


def describe_error(error: grpc.RpcError) -> str:
    """The status code, message and AIP-193 details of a failed call, as JSON."""
    call = cast(grpc.Call, error)
    report: dict[str, object] = {"code": call.code().name, "message": call.details()}
    for key, value in cast(Iterable[tuple[str, str | bytes]], call.trailing_metadata() or ()):
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                for kind in (
                    error_details_pb2.ErrorInfo,
                    error_details_pb2.BadRequest,
                    error_details_pb2.LocalizedMessage,
                ):
                    decoded = kind()
                    if detail.Unpack(decoded):
                        report[kind.DESCRIPTOR.name] = json_format.MessageToDict(decoded)
        elif key == "x-correlation-id":
            report["correlation_id"] = value
    return json.dumps(report, ensure_ascii=False, indent=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list").add_argument("address")
    describe_parser = commands.add_parser("describe")
    describe_parser.add_argument("address")
    describe_parser.add_argument("service")
    call_parser = commands.add_parser("call")
    call_parser.add_argument("address")
    call_parser.add_argument("method", help="package.Service/Method")
    call_parser.add_argument("body", nargs="?", default="{}", help="request as JSON")
    call_parser.add_argument("-H", "--header", action="append", default=[], help="metadata key=value")
    call_parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        if args.command == "list":
            print("\n".join(list_services(args.address)))
        elif args.command == "describe":
            print(describe(args.address, args.service))
        else:
            headers = [(key, value) for key, _, value in (h.partition("=") for h in args.header)]
            print(call(args.address, args.method, args.body, headers, args.timeout))
    except grpc.RpcError as error:
        print(describe_error(error), file=sys.stderr)
        sys.exit(1)
    except RequestError as error:
        print(f"grpc_cli: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
