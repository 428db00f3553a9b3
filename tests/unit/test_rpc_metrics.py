"""The call policy observes every call once in the latency histogram, under its final status code:
answered, refused by a rule, failed inside, or aborted by the handler itself (issue 13)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import grpc
import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.registration.v1 import registration_service_pb2 as pb
from prometheus_client import REGISTRY

from services.collection import access as collection_access
from services.common.call_policy import _Admission, _wrap
from services.common.caller_authorization import CallAuthorization
from services.common.errors import NotFound
from services.common.pagination import PageTokens
from tests.unit.test_authorization import MTLS
from tests.unit.test_call_policy_failures import Aborted, FakeContext

TOKENS = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))


def calls(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("medins_rpc_duration_seconds_count", {"method": method, "code": code}) or 0.0


async def test_an_answered_call_counts_once_as_ok_with_its_latency() -> None:
    method = f"/test/{uuid.uuid4().hex}"

    async def handler(request: Any, context: Any) -> Any:
        return pb.ListRegionsResponse()

    policed = _wrap(handler, method, False, _Admission("ListRegions", "x", None), TOKENS)
    await policed(pb.ListRegionsRequest(), FakeContext())  # type: ignore[arg-type]  # a fake of the methods used
    await policed(pb.ListRegionsRequest(), FakeContext())  # type: ignore[arg-type]
    assert calls(method, "OK") == 2
    assert (REGISTRY.get_sample_value("medins_rpc_duration_seconds_sum", {"method": method, "code": "OK"}) or 0) > 0
    assert calls(method, "NOT_FOUND") == 0


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (NotFound("REGION_NOT_FOUND", "no such region", "地区不存在"), "NOT_FOUND"),
        (RuntimeError("a bug"), "INTERNAL"),
        (ConnectionResetError("reset by peer"), "UNAVAILABLE"),
    ],
)
async def test_a_refused_or_failed_call_counts_once_under_its_status_code(failure: Exception, code: str) -> None:
    method = f"/test/{uuid.uuid4().hex}"

    async def handler(request: Any, context: Any) -> Any:
        raise failure

    policed = _wrap(handler, method, False, _Admission("ListRegions", "x", None), TOKENS)
    context = FakeContext()
    with pytest.raises(Aborted):
        await policed(pb.ListRegionsRequest(), context)  # type: ignore[arg-type]
    assert context.code is grpc.StatusCode[code]
    assert (calls(method, code), calls(method, "OK")) == (1, 0)


async def test_a_call_the_handler_aborts_itself_counts_under_the_code_it_aborted_with() -> None:
    method = f"/test/{uuid.uuid4().hex}"

    class AbortedContext:
        """After context.abort(PERMISSION_DENIED) grpc.aio's context answers that code."""

        def invocation_metadata(self) -> tuple[()]:
            return ()

        def set_trailing_metadata(self, metadata: object) -> None:
            pass

        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.PERMISSION_DENIED

    async def handler(request: Any, context: Any) -> Any:
        raise grpc.aio.AbortError()

    policed = _wrap(handler, method, False, _Admission("ListRegions", "x", None), TOKENS)
    with pytest.raises(grpc.aio.AbortError):
        await policed(pb.ListRegionsRequest(), AbortedContext())  # type: ignore[arg-type]
    assert calls(method, "PERMISSION_DENIED") == 1


async def test_a_caller_the_authorization_refuses_counts_as_permission_denied() -> None:
    """R35's denial happens in the call policy before the handler; it is a call like any other."""
    method = "/medins.collection.v1.CollectionService/NotifyPayment"
    before = calls(method, "PERMISSION_DENIED")

    class HospitalContext(FakeContext):
        def auth_context(self) -> dict[str, list[bytes]]:
            return {"x509_common_name": [b"hospital:h1"]}

    async def handler(request: Any, context: Any) -> Any:
        raise AssertionError("a refused caller never reaches the handler")

    admission = _Admission("NotifyPayment", "x", None, CallAuthorization(method, MTLS, collection_access.ACCESS))
    policed = _wrap(handler, method, False, admission, TOKENS)
    context = HospitalContext()

    async def call() -> None:  # each call runs in a task of its own (the caller binding is per task)
        await policed(col.NotifyPaymentRequest(), context)  # type: ignore[arg-type]

    with pytest.raises(Aborted):
        await asyncio.create_task(call())
    assert context.code is grpc.StatusCode.PERMISSION_DENIED
    assert calls(method, "PERMISSION_DENIED") == before + 1
