"""Helpers shared by integration and end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Polls `check` until it returns without raising AssertionError (or an RPC error), within a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, grpc.aio.AioRpcError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval)


@dataclass
class RpcFailure:
    code: grpc.StatusCode
    message: str
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    localized: str = ""


def trailing(error: grpc.aio.AioRpcError) -> list[tuple[str, str | bytes]]:
    """The trailing metadata of a failed call as (key, value) pairs."""
    return [(str(k), v) for k, v in cast(Iterable[tuple[str, str | bytes]], error.trailing_metadata() or ())]


def failure(error: grpc.aio.AioRpcError) -> RpcFailure:
    """The AIP-193 details of a failed call."""
    result = RpcFailure(code=error.code(), message=error.details() or "")
    for key, value in trailing(error):
        if key != "grpc-status-details-bin" or isinstance(value, str):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            text = error_details_pb2.LocalizedMessage()
            if detail.Unpack(info):
                result.reason = info.reason
                result.metadata = dict(info.metadata)
            elif detail.Unpack(bad):
                result.fields = [v.field for v in bad.field_violations]
            elif detail.Unpack(text):
                result.localized = text.message
    return result


async def refused(call: Awaitable[object]) -> RpcFailure:
    """Awaits a call that must fail, and returns its details."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return failure(error)
    raise AssertionError("the call succeeded but should have been refused")
