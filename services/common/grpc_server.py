"""gRPC server bootstrap shared by the three services: health, reflection, the call policy, graceful stop,
and plaintext or mutual TLS (R35). Health and reflection stay open to any caller the transport admits.
Each service hands in what is its own (`GrpcService`): its access table, what observes the edge's
refusals, and how large a request it takes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.admission import Gate, Limits
from services.common.authorization import AccessTable
from services.common.call_policy import RefusalObserver, policed_handlers
from services.common.metrics import AdmissionMetrics
from services.common.pagination import PageTokens
from services.common.tls import PLAINTEXT, ServerSecurity

log = structlog.get_logger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class GrpcService:
    """One service as its composition root hands it to the platform."""

    descriptor: ServiceDescriptor
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    # Who may call which of its methods (R35): the service's own table, which must cover every method.
    access: AccessTable
    # What a caller may send (R34; README "Limits"); above it grpc answers RESOURCE_EXHAUSTED before any
    # of our code runs. A process serving several services takes the largest.
    max_request_bytes: int
    # Called with what the edge refuses, before the refusal is answered (a service that must keep a
    # record even of those); None: nothing is kept.
    observe_refusal: RefusalObserver | None = None
    # Admission priorities of its methods (issue 22): when a slot frees, a waiting call of a higher
    # priority starts first (e.g. a payment before a record query); a method not named is 0.
    priorities: Mapping[str, int] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return self.descriptor.full_name


def server_options(max_request_bytes: int, streams_per_connection: int | None) -> list[tuple[str, int]]:
    """The grpc core options of a service's server."""
    options = [
        ("grpc.max_receive_message_length", max_request_bytes),
        ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
        ("grpc.so_reuseport", 0),
    ]
    if streams_per_connection is not None:
        # Issue 22: a connection's calls beyond the bound wait in the client (HTTP/2 flow of streams),
        # never reaching our Python code, so one flooding connection cannot crowd the event loop.
        # grpc core's "overload protection" counts a finished call until its stream is freed and
        # answers the client's next call RST_STREAM, which the client sees as UNAVAILABLE (measured with
        # grpcio 1.85: 33 of 50 calls at a bound of 4); off, the client queues them and none fails.
        options += [("grpc.max_concurrent_streams", streams_per_connection), ("grpc.http.overload_protection", 0)]
    return options


async def serve(
    *,
    address: str,
    services: Sequence[GrpcService],
    start: Callable[[], Coroutine[Any, Any, None]],
    close: Callable[[], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    grace_seconds: float,
    page_tokens: PageTokens,
    quiet_methods: frozenset[str] = frozenset(),
    security: ServerSecurity = PLAINTEXT,
    admission: Limits | None = None,
    streams_per_connection: int | None = None,
) -> None:
    """Listens at once (health answers NOT_SERVING), runs `start` (connect pools, with retries), turns
    SERVING, and on `stop`: NOT_SERVING, stop accepting, finish in-flight calls within the grace, `close`.
    Each service gets an admission gate of its own under `admission` (None: none), and each client
    connection at most `streams_per_connection` calls in progress (None: grpc's default, unbounded)."""
    server = grpc.aio.server(options=server_options(max(s.max_request_bytes for s in services), streams_per_connection))
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        handlers = policed_handlers(
            service.servicer,
            service.descriptor,
            service.add_to_server,
            quiet_methods,
            page_tokens,
            security.callers,
            access=service.access,
            observe_refusal=service.observe_refusal,
            gate=None if admission is None else Gate(service.full_name, admission, AdmissionMetrics(service.full_name)),
            priorities=service.priorities,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
        server.add_registered_method_handlers(service.full_name, handlers)  # type: ignore[attr-defined]
    names = [s.full_name for s in services]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if security.credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, security.credentials)
    if port == 0:
        raise SystemExit(f"cannot listen on {address}")
    await server.start()
    log.info("grpc_listening", address=address, services=names, mtls=security.credentials is not None)
    try:
        starting = asyncio.create_task(start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([starting, stopping], return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            for name in ["", *names]:
                await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
            log.info("grpc_serving", address=address)
            await stop.wait()
        else:
            starting.cancel()
        stopping.cancel()
    finally:
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace_seconds)
        await close()
        log.info("grpc_stopped", address=address)
