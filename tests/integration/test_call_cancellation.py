"""Issue 17: no work goes on after the caller's deadline. grpc.aio cancels the handler's task when the
call ends; the call policy lets the cancellation through (it catches Exception, never CancelledError), so
a handler stops at its next await instead of writing on for a caller who has gone."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import grpc
from medins.registration.v1 import registration_service_pb2 as pb
from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from services.common.call_policy import policed_handlers
from services.common.pagination import PageTokens
from tests.support import eventually

SERVICE = pb.DESCRIPTOR.services_by_name["RegistrationService"]


class SlowRegions(pb_grpc.RegistrationServiceServicer):
    """ListRegions as a long piece of work, one step per await, counting the steps it takes."""

    def __init__(self) -> None:
        self.steps = 0
        self.cancelled = asyncio.Event()

    async def ListRegions(self, request: pb.ListRegionsRequest, context: Any) -> pb.ListRegionsResponse:
        try:
            for _ in range(1_000):
                self.steps += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return pb.ListRegionsResponse()


async def test_a_call_past_its_deadline_stops_its_handler() -> None:
    servicer = SlowRegions()  # type: ignore[abstract]  # the other RPCs: the generated stand-ins
    tokens = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
    handlers = policed_handlers(
        servicer, SERVICE, pb_grpc.add_RegistrationServiceServicer_to_server, frozenset(), tokens
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.RegistrationServiceStub(channel)
            try:
                await stub.ListRegions(pb.ListRegionsRequest(), timeout=0.3)
                raise AssertionError("a ten-second call answered within its 0.3 s deadline")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

            async def stopped() -> None:
                assert servicer.cancelled.is_set(), "the handler was not cancelled"

            await eventually(stopped, timeout=5)
            steps = servicer.steps
            await asyncio.sleep(0.2)  # twenty steps' time, for a handler that would go on
            assert servicer.steps == steps < 1_000
    finally:
        await server.stop(None)
