"""A gRPC health probe for containers (python -m ops.grpc_health_probe HOST:PORT [--service NAME]).

Asks the standard grpc.health.v1 Health/Check of a server and exits 0 only when it answers SERVING:
1 when it answers anything else, 2 when it cannot be reached in time. The image has no
grpc_health_probe binary; this is its equivalent for compose health checks. (Kubernetes uses its own
native `grpc:` probes against the same Health service.) With MEDINS_TLS_REQUIRED it connects over mutual
TLS with the process's MEDINS_TLS_IDENTITY, as every client does (R35).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common import grpc_channels
from services.common.grpc_channels import ChannelSecurity
from services.common.settings import Settings

EXIT_SERVING = 0
EXIT_NOT_SERVING = 1
EXIT_UNREACHABLE = 2


def check(address: str, service: str = "", timeout_seconds: float = 3.0) -> int:
    """Returns EXIT_SERVING, EXIT_NOT_SERVING or EXIT_UNREACHABLE for the server at `address`."""
    with grpc_channels.channel(address, security=ChannelSecurity.from_settings(Settings())) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_seconds)
        except grpc.RpcError as error:
            code = error.code() if isinstance(error, grpc.Call) else None
            sys.stderr.write(f"{address}: {code.name if code else 'error'}\n")
            unreachable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            return EXIT_UNREACHABLE if unreachable else EXIT_NOT_SERVING
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        sys.stderr.write(f"{address}: {status}\n")
        return EXIT_NOT_SERVING
    return EXIT_SERVING


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help="service name to ask about ('' = the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    sys.exit(check(args.address, args.service, args.timeout))


if __name__ == "__main__":
    main()
