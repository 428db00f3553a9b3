"""A `medins` client that behaves under overload (issue 22): an idempotent call a service refuses with
RESOURCE_EXHAUSTED and google.rpc.RetryInfo is sent again after the delay it was given, stretched by a
random jitter (so that many clients told the same delay do not come back at once), a few times at most
and never past the call's own deadline. Idempotent: a read (Get, List, Check, BatchCheck, Verify, Quote)
or a request carrying a request_id (AIP-155: the server answers a repeat with the first answer)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.rpc import error_details_pb2, status_pb2

MAX_ATTEMPTS = 5
JITTER = 0.5  # the delay is stretched by a random 0-50 %
_READS = ("Get", "List", "Check", "BatchCheck", "Verify", "Quote")

if TYPE_CHECKING:
    _Interceptor = grpc.UnaryUnaryClientInterceptor[Any, Any]
else:
    _Interceptor = grpc.UnaryUnaryClientInterceptor


def idempotent(method: str, request: Any) -> bool:
    """Whether `method` (/package.Service/Method) may be sent again with `request` without doing twice."""
    name = method.rsplit("/", 1)[-1]
    if name.startswith(_READS):
        return True
    return bool(getattr(request, "request_id", ""))


def retry_delay(trailing_metadata: Any) -> float | None:
    """The RetryInfo delay (seconds) of a status's trailers; None when there is none."""
    for key, value in trailing_metadata or ():
        if key != "grpc-status-details-bin" or isinstance(value, str):
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return float(info.retry_delay.ToTimedelta().total_seconds())
    return None


def wait_before_retry(
    code: grpc.StatusCode, trailing_metadata: Any, now: float, deadline: float | None, jitter: float
) -> float | None:
    """How long to wait before sending a refused call again (its RetryInfo delay stretched by `jitter`,
    0-1, times JITTER), or None: not RESOURCE_EXHAUSTED, no RetryInfo (grpc's own, e.g. a message too
    large: sending it again changes nothing), or the wait would reach the call's deadline."""
    if code is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    delay = retry_delay(trailing_metadata)
    if delay is None:
        return None
    wait = delay * (1 + JITTER * jitter)
    return None if deadline is not None and now + wait >= deadline else wait


@dataclass(frozen=True)
class _Details(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class RetryOnOverload(_Interceptor):
    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sleep, self._now, self._jitter = sleep, now, jitter

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        if not idempotent(client_call_details.method, request):
            return continuation(client_call_details, request)
        deadline = None if client_call_details.timeout is None else self._now() + client_call_details.timeout
        details = client_call_details
        for _ in range(MAX_ATTEMPTS - 1):
            outcome = continuation(details, request)
            if outcome.exception() is None:
                return outcome
            wait = wait_before_retry(outcome.code(), outcome.trailing_metadata(), self._now(), deadline, self._jitter())
            if wait is None:
                return outcome
            self._sleep(wait)
            details = _Details(
                details.method,
                None if deadline is None else deadline - self._now(),
                details.metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            )
        return continuation(details, request)


def retrying(channel: grpc.Channel) -> grpc.Channel:
    return grpc.intercept_channel(channel, RetryOnOverload())


if TYPE_CHECKING:
    _AioInterceptor = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
else:
    _AioInterceptor = grpc.aio.UnaryUnaryClientInterceptor


class AioRetryOnOverload(_AioInterceptor):
    """The same behaviour for asyncio channels (the load tool's polite mix, benchmarks/load_world.py)."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sleep, self._jitter = sleep, jitter

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        method = client_call_details.method
        if not idempotent(method.decode() if isinstance(method, bytes) else method, request):
            return await continuation(client_call_details, request)
        loop = asyncio.get_running_loop()
        deadline = None if client_call_details.timeout is None else loop.time() + client_call_details.timeout
        details = client_call_details
        for _ in range(MAX_ATTEMPTS - 1):
            call = await continuation(details, request)
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                wait = wait_before_retry(exc.code(), exc.trailing_metadata(), loop.time(), deadline, self._jitter())
                if wait is None:
                    return call
                await self._sleep(wait)  # the delay RetryInfo gave, with jitter
                details = details._replace(timeout=None if deadline is None else deadline - loop.time())
                continue
            return call
        return await continuation(details, request)
