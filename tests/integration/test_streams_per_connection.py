"""Issue 22: a client connection's calls beyond the server's bound wait in the client, none failing, and
the server never has more of them in progress; another connection's call is not held behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from services.common.grpc_server import server_options

BOUND = 4
METHOD = "/test.Streams/Echo"


class Server:
    """A bare grpc server with the services' options; its handler counts the calls in progress."""

    def __init__(self) -> None:
        self.in_progress = 0
        self.most_in_progress = 0
        self.release = asyncio.Event()
        self.at_bound = asyncio.Event()

    async def echo(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        self.in_progress += 1
        self.most_in_progress = max(self.most_in_progress, self.in_progress)
        if self.in_progress >= BOUND:
            self.at_bound.set()
        try:
            if request == b"hold":
                await self.release.wait()
            return request
        finally:
            self.in_progress -= 1


def echo_of(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    return channel.unary_unary(METHOD, request_serializer=bytes, response_deserializer=bytes)


@pytest.fixture
async def bounded() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    server = grpc.aio.server(options=server_options(1024, BOUND))
    handler = grpc.unary_unary_rpc_method_handler(state.echo)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Streams", {"Echo": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield state, f"127.0.0.1:{port}"
    await server.stop(None)


async def test_calls_beyond_the_bound_wait_in_the_client_and_every_one_is_answered(
    bounded: tuple[Server, str],
) -> None:
    state, address = bounded
    async with grpc.aio.insecure_channel(address) as channel:
        echo = echo_of(channel)
        assert await echo(b"warm", timeout=10) == b"warm"  # the server's SETTINGS have reached the client
        calls = [asyncio.ensure_future(echo(b"hold", timeout=30)) for _ in range(50)]
        await asyncio.wait_for(state.at_bound.wait(), timeout=10)
        assert state.in_progress == BOUND
        state.release.set()
        replies = await asyncio.gather(*calls, return_exceptions=True)
    assert replies == [b"hold"] * 50  # none refused (UNAVAILABLE) at the bound
    assert state.most_in_progress == BOUND


async def test_another_connections_call_is_answered_while_one_connection_waits_at_its_bound(
    bounded: tuple[Server, str],
) -> None:
    state, address = bounded
    # Two clients: grpc would otherwise share one connection between channels of equal arguments.
    own_connection = [("grpc.use_local_subchannel_pool", 1)]
    async with (
        grpc.aio.insecure_channel(address) as flood,
        grpc.aio.insecure_channel(address, options=own_connection) as polite,
    ):
        calls = [asyncio.ensure_future(echo_of(flood)(b"hold", timeout=30)) for _ in range(50)]
        try:
            assert await echo_of(polite)(b"polite", timeout=10) == b"polite"
            assert state.most_in_progress <= BOUND + 1
        finally:
            state.release.set()
            replies = await asyncio.gather(*calls, return_exceptions=True)
    # Sent at once on a new connection, before the server's SETTINGS came back: none refused either.
    assert replies == [b"hold"] * 50
