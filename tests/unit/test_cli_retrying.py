"""The `medins` CLI under overload (issue 22, ops/cli/retrying.py): an idempotent call refused with
RESOURCE_EXHAUSTED and RetryInfo is sent again after the delay given, with jitter, within its deadline;
anything else is answered as it came."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from ops.cli.retrying import MAX_ATTEMPTS, AioRetryOnOverload, RetryOnOverload, idempotent
from services.common.errors import ResourceExhausted
from services.common.grpc_errors import to_grpc_status

BUSY = to_grpc_status(ResourceExhausted("OVERLOADED", "busy", "繁忙", retry_after=0.2))


@dataclass
class Outcome:
    code_: grpc.StatusCode
    trailers: Any = ()

    def exception(self) -> Exception | None:
        return None if self.code_ is grpc.StatusCode.OK else RuntimeError(self.code_.name)

    def code(self) -> grpc.StatusCode:
        return self.code_

    def trailing_metadata(self) -> Any:
        return self.trailers


@dataclass
class Details:
    method: str
    timeout: float | None = 30.0
    metadata: Any = None
    credentials: Any = None
    wait_for_ready: Any = None
    compression: Any = None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(method: str, request: Any, outcomes: list[Outcome], timeout: float | None = 30.0) -> tuple[Any, Clock, int]:
    clock = Clock()
    calls = []

    def continuation(details: Any, request: Any) -> Outcome:
        calls.append(details.timeout)
        return outcomes.pop(0) if outcomes else Outcome(grpc.StatusCode.OK)

    interceptor = RetryOnOverload(sleep=clock.sleep, now=lambda: clock.now, jitter=lambda: 1.0)
    outcome = interceptor.intercept_unary_unary(continuation, Details(method, timeout), request)
    return outcome, clock, len(calls)


def busy() -> Outcome:
    return Outcome(grpc.StatusCode.RESOURCE_EXHAUSTED, BUSY.trailing_metadata)


def test_a_read_refused_busy_is_sent_again_after_the_delay_with_jitter() -> None:
    outcome, clock, calls = run("/medins.x.v1.X/CheckEnrollment", chk.CheckEnrollmentRequest(), [busy(), busy()])
    assert outcome.code() is grpc.StatusCode.OK and calls == 3
    assert clock.slept == [0.2 * 1.5, 0.2 * 1.5]


def test_a_write_without_request_id_is_not_sent_again() -> None:
    outcome, clock, calls = run("/medins.x.v1.X/NotifyPayment", col.NotifyPaymentRequest(), [busy()])
    assert outcome.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and calls == 1 and not clock.slept


def test_a_write_with_request_id_is_idempotent() -> None:
    assert idempotent("/medins.x.v1.X/NotifyPayment", col.NotifyPaymentRequest(request_id="r-1"))
    assert not idempotent("/medins.x.v1.X/NotifyPayment", col.NotifyPaymentRequest())


def test_a_refusal_without_retry_info_is_answered_as_it_came() -> None:
    plain = Outcome(grpc.StatusCode.RESOURCE_EXHAUSTED)
    outcome, _, calls = run("/medins.x.v1.X/GetOrder", col.GetOrderRequest(), [plain])
    assert outcome is plain and calls == 1


def test_no_retry_past_the_deadline_and_a_few_at_most() -> None:
    outcome, _, calls = run("/medins.x.v1.X/GetOrder", col.GetOrderRequest(), [busy()], timeout=0.25)
    assert outcome.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and calls == 1
    outcome, _, calls = run("/medins.x.v1.X/GetOrder", col.GetOrderRequest(), [busy() for _ in range(10)])
    assert outcome.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and calls == MAX_ATTEMPTS


# -- the asyncio interceptor (the load tool's polite mix, benchmarks/load_world.py) ------------------------


class AioCall:
    """What an asyncio continuation returns: awaiting it answers, or raises the call's error."""

    def __init__(self, code: grpc.StatusCode, trailers: Any = ()) -> None:
        self.code_, self.trailers = code, trailers

    def __await__(self) -> Any:
        if self.code_ is not grpc.StatusCode.OK:
            raise grpc.aio.AioRpcError(self.code_, grpc.aio.Metadata(), grpc.aio.Metadata(*self.trailers), "busy", None)
        yield from asyncio.sleep(0).__await__()
        return "answer"


async def run_aio(
    method: str, request: Any, codes: list[AioCall], timeout: float | None = 30.0
) -> tuple[Any, list[float], int]:
    slept: list[float] = []
    calls: list[float | None] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def continuation(details: Any, request: Any) -> AioCall:
        calls.append(details.timeout)
        return codes.pop(0) if codes else AioCall(grpc.StatusCode.OK)

    interceptor = AioRetryOnOverload(sleep=sleep, jitter=lambda: 1.0)
    details = grpc.aio.ClientCallDetails(method, timeout, None, None, None)
    return await interceptor.intercept_unary_unary(continuation, details, request), slept, len(calls)


def aio_busy() -> AioCall:
    return AioCall(grpc.StatusCode.RESOURCE_EXHAUSTED, BUSY.trailing_metadata)


async def test_the_asyncio_interceptor_sends_a_read_refused_busy_again_after_the_delay_with_jitter() -> None:
    call, slept, calls = await run_aio("/medins.x.v1.X/CheckEnrollment", chk.CheckEnrollmentRequest(), [aio_busy()])
    assert await call == "answer" and calls == 2 and slept == [0.2 * 1.5]


async def test_the_asyncio_interceptor_answers_a_write_without_request_id_as_it_came() -> None:
    call, slept, calls = await run_aio("/medins.x.v1.X/NotifyPayment", col.NotifyPaymentRequest(), [aio_busy()])
    assert calls == 1 and not slept
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_the_asyncio_interceptor_stops_at_the_deadline_and_after_a_few_attempts() -> None:
    _, slept, calls = await run_aio("/medins.x.v1.X/GetOrder", col.GetOrderRequest(), [aio_busy()], timeout=0.25)
    assert calls == 1 and not slept
    call, _, calls = await run_aio("/medins.x.v1.X/GetOrder", col.GetOrderRequest(), [aio_busy() for _ in range(10)])
    assert calls == MAX_ATTEMPTS
    with pytest.raises(grpc.aio.AioRpcError):
        await call
