"""R21 / AIP-155: a request id yields one effect; its reuse for another request is refused."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from medins.registration.v1 import registration_service_pb2 as pb

from services.common.db import Pool
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from services.common.housekeeping import purge_expired
from services.common.mutations import run_mutation
from services.registration.unit_of_work import RegistrationUnitOfWork


def request(request_id: str, name: str = "安庆市") -> pb.CreateRegionRequest:
    return pb.CreateRegionRequest(request_id=request_id, region=pb.Region(region_code="340800", name=name))


class CountingAction:
    def __init__(self, pool: Pool) -> None:
        self.runs = 0
        self.pool = pool

    async def __call__(self, uow: RegistrationUnitOfWork) -> pb.CreateRegionResponse:
        self.runs += 1
        await uow.conn.execute("SELECT pg_sleep(0.05)")  # widen the window for concurrent duplicates
        return pb.CreateRegionResponse(region=pb.Region(region_code="340800", name=f"run {self.runs}"))


async def call(pool: Pool, req: pb.CreateRegionRequest, action: CountingAction) -> pb.CreateRegionResponse:
    return await run_mutation(
        lambda: RegistrationUnitOfWork(pool), "CreateRegion", req, pb.CreateRegionResponse, action
    )


async def test_the_same_request_id_returns_the_original_response(insurance_pool: Pool) -> None:
    action = CountingAction(insurance_pool)
    first = await call(insurance_pool, request("r-1"), action)
    second = await call(insurance_pool, request("r-1"), action)
    assert action.runs == 1
    assert second == first and first.region.name == "run 1"


async def test_twenty_concurrent_duplicates_run_once(insurance_pool: Pool) -> None:
    action = CountingAction(insurance_pool)
    responses = await asyncio.gather(*(call(insurance_pool, request("r-2"), action) for _ in range(20)))
    assert action.runs == 1
    assert len({r.SerializeToString() for r in responses}) == 1


async def test_the_same_id_for_a_different_request_is_refused(insurance_pool: Pool) -> None:
    action = CountingAction(insurance_pool)
    await call(insurance_pool, request("r-3"), action)
    with pytest.raises(AlreadyExists) as refused:
        await call(insurance_pool, request("r-3", name="其他"), action)
    assert refused.value.reason == "REQUEST_ID_REUSED"
    assert action.runs == 1


async def test_a_refused_request_stores_nothing_so_a_retry_runs_again(insurance_pool: Pool) -> None:
    attempts = 0

    async def refuse_first(uow: RegistrationUnitOfWork) -> pb.CreateRegionResponse:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise FailedPrecondition("NOT_YET", "not yet", "暂不可办理")
        return pb.CreateRegionResponse()

    with pytest.raises(FailedPrecondition):
        await run_mutation(
            lambda: RegistrationUnitOfWork(insurance_pool), "X", request("r-4"), pb.CreateRegionResponse, refuse_first
        )
    await run_mutation(
        lambda: RegistrationUnitOfWork(insurance_pool), "X", request("r-4"), pb.CreateRegionResponse, refuse_first
    )
    assert attempts == 2


async def test_a_missing_request_id_is_invalid(insurance_pool: Pool) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await call(insurance_pool, request(""), CountingAction(insurance_pool))
    assert refused.value.field == "request_id"


async def test_housekeeping_removes_only_what_is_past_retention(insurance_pool: Pool) -> None:
    await call(insurance_pool, request("r-old"), CountingAction(insurance_pool))
    await call(insurance_pool, request("r-new"), CountingAction(insurance_pool))
    async with insurance_pool.acquire() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '8 days' WHERE request_id = 'r-old'"
        )
    removed = await purge_expired(
        insurance_pool, idempotency_retention=dt.timedelta(days=7), outbox_retention=dt.timedelta(days=7)
    )
    assert removed == 1
    async with insurance_pool.acquire() as conn:
        left = [r[0] for r in await conn.fetch("SELECT request_id FROM idempotency_keys ORDER BY request_id")]
    assert left == ["r-new"]
