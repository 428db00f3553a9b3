"""The call policy's answer when the database, not the caller, is the problem: UNAVAILABLE with a
reason the caller can act on (retry with the same request_id), never INTERNAL (R34)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from medins.registration.v1 import registration_service_pb2 as pb
from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from services.common.call_policy import _Admission, _wrap, policed_handlers
from services.common.pagination import PageTokens

# The generated base class as is: every RPC exists but none is implemented.
_Nothing = type("_Nothing", (pb_grpc.RegistrationServiceServicer,), {})


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self.code: grpc.StatusCode | None = None
        self.trailers: tuple[tuple[str, Any], ...] = ()

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def set_trailing_metadata(self, metadata: object) -> None:
        pass

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: Any = ()) -> None:
        self.code, self.trailers = code, tuple(trailing_metadata)
        raise Aborted(details)


@pytest.mark.parametrize(
    "failure",
    [asyncpg.TooManyConnectionsError("sorry, too many clients already"), ConnectionResetError("reset by peer")],
)
async def test_a_database_that_cannot_be_reached_is_unavailable_not_internal(failure: Exception) -> None:
    async def handler(request: Any, context: Any) -> Any:
        raise failure

    tokens = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
    policed = _wrap(handler, "/m", False, _Admission("ListRegions", "x", None), tokens)
    context = FakeContext()
    with pytest.raises(Aborted):
        await policed(pb.ListRegionsRequest(), context)  # type: ignore[arg-type]  # a fake of the two methods used
    assert context.code is grpc.StatusCode.UNAVAILABLE
    status = status_pb2.Status.FromString(dict(context.trailers)["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details) and info.reason == "DATABASE_UNAVAILABLE"


async def test_an_rpc_the_servicer_does_not_implement_answers_unimplemented_in_the_projects_format() -> None:
    """Every RPC of the API is served; one a servicer lacks answers UNIMPLEMENTED with an ErrorInfo
    reason, not grpc's bare text (R34)."""
    tokens = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
    handlers = policed_handlers(
        _Nothing(),
        pb.DESCRIPTOR.services_by_name["RegistrationService"],
        pb_grpc.add_RegistrationServiceServicer_to_server,
        frozenset(),
        tokens,
    )
    context = FakeContext()
    with pytest.raises(Aborted):
        await handlers["ListRegions"].unary_unary(pb.ListRegionsRequest(), context)  # type: ignore[arg-type, misc]
    assert context.code is grpc.StatusCode.UNIMPLEMENTED
    status = status_pb2.Status.FromString(dict(context.trailers)["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details) and info.reason == "NOT_IMPLEMENTED_YET"
