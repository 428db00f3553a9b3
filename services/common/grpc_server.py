"""gRPC server bootstrap shared by the three services: health, reflection, the call policy, graceful stop."""

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

from services.common.call_policy import instrument

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


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
    quiet_methods: frozenset[str] = frozenset(),
) -> None:
    """Listens at once (health answers NOT_SERVING), runs `start` (connect pools, with retries), turns
    SERVING, and on `stop`: NOT_SERVING, stop accepting, finish in-flight calls within the grace, `close`."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in services:
        service.add_to_server(instrument(service.servicer, service.descriptor, quiet_methods), server)
    names = [s.full_name for s in services]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if server.add_insecure_port(address) == 0:
        raise SystemExit(f"cannot listen on {address}")
    await server.start()
    log.info("grpc_listening", address=address, services=names)
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
