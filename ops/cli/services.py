"""How a subcommand reaches a service: the address (from --address or the settings' ports), a channel
opened only through services/common/grpc_channels.py (where transport security and the caller's identity
are decided, R35), and a stub whose failures come out as CallFailed naming the service and address."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

import grpc
from medins.collection.v1 import collection_service_pb2_grpc as collection_grpc
from medins.enrollment.v1 import enrollment_check_service_pb2_grpc as enrollment_grpc
from medins.registration.v1 import registration_service_pb2_grpc as registration_grpc

from ops.cli.errors import CallFailed, refusal_of
from ops.cli.retrying import retrying
from services.common import grpc_channels
from services.common.settings import Settings, load_settings

REGISTRATION, ENROLLMENT, COLLECTION = "registration", "enrollment", "collection"
# Room for a batch chunk of 2,000 rows (the registration server accepts 2 MiB) and for large answers.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 30.0
# A server bound to every interface is reached on the loopback one from this machine.
_WILDCARDS = {"0.0.0.0", "::", ""}

Stub = TypeVar("Stub")


def default_address(service: str, settings: Settings | None = None) -> str:
    """host:port of a service as this machine's settings (MEDINS_*_PORT, MEDINS_LISTEN_HOST) place it."""
    settings = settings or load_settings()
    port = {
        REGISTRATION: settings.registration_port,
        ENROLLMENT: settings.enrollment_port,
        COLLECTION: settings.collection_port,
    }[service]
    host = "127.0.0.1" if settings.listen_host in _WILDCARDS else settings.listen_host
    return f"{host}:{port}"


def add_address(parser: argparse.ArgumentParser, service: str) -> None:
    """--address of the service the subcommand calls, defaulting to the settings."""
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help=f"the {service} service (default: 127.0.0.1 and MEDINS_{service.upper()}_PORT)",
    )
    parser.set_defaults(service=service)


def add_request_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-id",
        help="client request id (AIP-155); give the same one to retry safely (default: a new one)",
    )


def request_id(args: argparse.Namespace) -> str:
    given: str | None = getattr(args, "request_id", None)
    return given or f"medins-{uuid.uuid4().hex}"


def address_of(args: argparse.Namespace, service: str) -> str:
    given: str | None = getattr(args, "address", None)
    return given or default_address(service)


def open_channel(address: str) -> grpc.Channel:
    """The operator's channel: plaintext, or with MEDINS_TLS_REQUIRED mutual TLS presenting
    MEDINS_TLS_IDENTITY's certificate (an operator; an insurance officer to approve or reject). An
    idempotent call a busy service refuses is sent again after the RetryInfo delay (ops/cli/retrying.py)."""
    return retrying(
        grpc_channels.channel(
            address,
            options=(
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ),
            security=grpc_channels.ChannelSecurity.from_settings(load_settings()),
        )
    )


@contextmanager
def _stub(service: str, address: str, make: Callable[[grpc.Channel], Stub]) -> Iterator[Stub]:
    with open_channel(address) as channel:
        try:
            yield make(channel)
        except grpc.RpcError as error:
            raise CallFailed(service, address, refusal_of(error)) from None


def registration(args: argparse.Namespace) -> AbstractContextManager[registration_grpc.RegistrationServiceStub]:
    return _stub(REGISTRATION, address_of(args, REGISTRATION), registration_grpc.RegistrationServiceStub)


def enrollment(args: argparse.Namespace) -> AbstractContextManager[enrollment_grpc.EnrollmentCheckServiceStub]:
    return _stub(ENROLLMENT, address_of(args, ENROLLMENT), enrollment_grpc.EnrollmentCheckServiceStub)


def collection(args: argparse.Namespace) -> AbstractContextManager[collection_grpc.CollectionServiceStub]:
    return _stub(COLLECTION, address_of(args, COLLECTION), collection_grpc.CollectionServiceStub)
