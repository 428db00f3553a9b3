"""gRPC server bootstrap shared by the three services: health, reflection, the call policy, graceful stop,
and plaintext or mutual TLS (R35). Health and reflection stay open to any caller the transport admits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.call_policy import policed_handlers
from services.common.pagination import PageTokens
from services.common.tls import PLAINTEXT, ServerSecurity

log = structlog.get_logger(__name__)

# What a caller may send, set per service (R34; README "Limits"). Above it grpc answers
# RESOURCE_EXHAUSTED before any of our code runs. Batch registration takes chunks of 2,000 rows
# (~0.5 MB); a batch check 1,000 IDs (~25 kB); collection a school order of 5,000 students or a day's
# settlement file of up to 20,000 records (~1.5 MB).
MAX_REQUEST_BYTES = {
    "medins.registration.v1.RegistrationService": 2 * 1024 * 1024,
    "medins.enrollment.v1.EnrollmentCheckService": 256 * 1024,
    "medins.collection.v1.CollectionService": 4 * 1024 * 1024,
    "medins.trail.v1.PersonTrailService": 64 * 1024,
}
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class GrpcService:
    descriptor: ServiceDescriptor
    servicer: object
    add_to_server: Callable[[Any, grpc.aio.Server], None]

    @property
    def full_name(self) -> str:
        return self.descriptor.full_name


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
) -> None:
    """Listens at once (health answers NOT_SERVING), runs `start` (connect pools, with retries), turns
    SERVING, and on `stop`: NOT_SERVING, stop accepting, finish in-flight calls within the grace, `close`."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max(MAX_REQUEST_BYTES[s.full_name] for s in services)),
            ("grpc.max_send_message_length", MAX_RESPONSE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        handlers = policed_handlers(
            service.servicer, service.descriptor, service.add_to_server, quiet_methods, page_tokens, security.callers
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
