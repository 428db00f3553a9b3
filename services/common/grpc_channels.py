"""How every client of this system (the operator CLI, the load tool, the tests) opens a channel to a
service. One place, so that transport security (R35, mTLS with a caller identity) is decided once."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

ChannelOptions = Sequence[tuple[str, int | str]]


def channel(address: str, *, options: ChannelOptions = ()) -> grpc.Channel:
    """A blocking channel to `address`."""
    return grpc.insecure_channel(address, options=list(options))


def aio_channel(address: str, *, options: ChannelOptions = ()) -> grpc.aio.Channel:
    """An asyncio channel to `address`."""
    return grpc.aio.insecure_channel(address, options=list(options))
