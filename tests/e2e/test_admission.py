"""Issue 22 end to end (R16, R35): one hospital floods CheckEnrollment through the real enrollment check
process, over mutual TLS, with 512 calls in flight over two connections, while a second hospital asks
20 checks a second. The second gets every answer; the flood gets its share, and RESOURCE_EXHAUSTED with
RetryInfo beyond it (each connection's calls beyond the server's streams per connection wait in the
flood's own client). Shares follow the certificate's identity.

This module runs a system of its own (TLS on, the enrollment check only, small shares so that the flood
is well beyond its share). The polite caller's latency is reported, not held to a tight bound: the
machine is shared."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from ops.certs import make_certs
from services.common.identity import parse_identity
from tests.e2e.clients import EnrollmentClient
from tests.e2e.conftest import START
from tests.e2e.fleet import say
from tests.e2e.system import System, running_system
from tests.factories import unique_resident_id
from tests.infra import Stack
from tests.support import trailing

FLOOD = "hospital:flood"
POLITE = "hospital:polite"
FLOOD_IN_FLIGHT = 512
# The flood's client has two connections: each holds its calls beyond the server's streams per
# connection (8) on its own side, and the two together are beyond the flood's share (8 + 4).
FLOOD_CONNECTIONS = 2
CALLER_IN_FLIGHT = 8
CALLER_QUEUED = 4
POLITE_CALLS = 100
POLITE_PER_SECOND = 20
# Large, so that a call with less time left reaches the server well before its deadline passes.
DEADLINE_FLOOR_MS = 500


@pytest.fixture(scope="module")
async def admission_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    workdir = Path(tmp_path_factory.mktemp("admission"))
    make_certs(workdir / "certs", extra=[parse_identity(FLOOD), parse_identity(POLITE)])
    env = {
        "MEDINS_ADMISSION_CALLER_IN_FLIGHT": str(CALLER_IN_FLIGHT),
        "MEDINS_ADMISSION_CALLER_QUEUED": str(CALLER_QUEUED),
        "MEDINS_ADMISSION_DEADLINE_FLOOR_MS": str(DEADLINE_FLOOR_MS),
    }
    async with running_system(
        Stack("admission"), workdir, START, env=env, only=["enrollment"], tls_dir=workdir / "certs"
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def clock_at_start(admission_system: System) -> None:
    """Replaces the suite's plaintext system here: this module needs only its own."""
    admission_system.set_clock(START)


def check(caller_id: str) -> chk.CheckEnrollmentRequest:
    return chk.CheckEnrollmentRequest(
        caller_id=caller_id,
        purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
        target=chk.CheckTarget(resident_id_number=unique_resident_id(), insurance_year=2024),
    )


def retry_info(error: grpc.aio.AioRpcError) -> tuple[str, float | None]:
    """The ErrorInfo reason and the RetryInfo delay (seconds) of a refusal."""
    reason, delay = "", None
    for key, value in trailing(error):
        if key != "grpc-status-details-bin" or isinstance(value, str):
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(retry):
                delay = retry.retry_delay.ToTimedelta().total_seconds()
    return reason, delay


async def test_a_flood_from_one_hospital_does_not_refuse_or_starve_another(admission_system: System) -> None:
    floods = [EnrollmentClient(admission_system.channel("enrollment", FLOOD, k + 1)) for k in range(FLOOD_CONNECTIONS)]
    polite = EnrollmentClient(admission_system.channel("enrollment", POLITE))
    await polite.CheckEnrollment(check("warm-up"), timeout=30)
    stop = asyncio.Event()
    flood_outcomes: Counter[str] = Counter()
    refusals: list[tuple[str, float | None]] = []
    in_full_swing = asyncio.Event()  # every flooder has had an answer

    async def flooding(flood: EnrollmentClient) -> None:
        while not stop.is_set():  # a hostile client: it retries at once, whatever it is told
            try:
                await flood.CheckEnrollment(check("flood"), timeout=30)
                flood_outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                flood_outcomes[error.code().name] += 1
                if error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED and len(refusals) < 100:
                    refusals.append(retry_info(error))
            if sum(flood_outcomes.values()) >= FLOOD_IN_FLIGHT:
                in_full_swing.set()

    flooders = [asyncio.create_task(flooding(floods[k % FLOOD_CONNECTIONS])) for k in range(FLOOD_IN_FLIGHT)]
    latencies: list[float] = []
    try:
        async with asyncio.timeout(120):
            await in_full_swing.wait()
            for _ in range(POLITE_CALLS):
                started = time.perf_counter()
                reply = await polite.CheckEnrollment(check("polite"), timeout=30)  # any error fails the test
                latencies.append(time.perf_counter() - started)
                assert reply.result.status == chk.CHECK_STATUS_NOT_ENROLLED
                await asyncio.sleep(max(0.0, 1 / POLITE_PER_SECOND - latencies[-1]))
    finally:
        stop.set()
        await asyncio.gather(*flooders, return_exceptions=True)

    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    say(
        f"polite caller beside a flood of {FLOOD_IN_FLIGHT} in flight: {len(latencies)} checks, "
        f"p50 {cuts[49] * 1000:.1f} ms, p90 {cuts[89] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; the flood got {dict(flood_outcomes)}"
    )
    assert flood_outcomes["OK"] > 0, "the flood gets its share"
    assert flood_outcomes["RESOURCE_EXHAUSTED"] > 0, "beyond its share the flood is refused"
    assert set(flood_outcomes) <= {"OK", "RESOURCE_EXHAUSTED"}
    assert refusals and all(reason == "CALLER_OVER_SHARE" and (delay or 0) > 0 for reason, delay in refusals)
    # A loose sanity bound only (the machine is shared): the polite caller never waits behind the flood's
    # queue of a few seconds' worth of calls.
    assert statistics.median(latencies) < 1.0
    log = admission_system.log_text("enrollment")
    assert "admission_shed" in log and log.count("admission_shed") < flood_outcomes["RESOURCE_EXHAUSTED"]


async def test_a_call_without_time_left_is_not_started(admission_system: System) -> None:
    polite = EnrollmentClient(admission_system.channel("enrollment", POLITE))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await polite.CheckEnrollment(check("late"), timeout=DEADLINE_FLOOR_MS / 1000 * 0.6)
    assert raised.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert retry_info(raised.value) == ("DEADLINE_TOO_SHORT", None)  # ours, not the transport's
    reply = await polite.CheckEnrollment(check("in-time"), timeout=30)
    assert reply.result.status == chk.CHECK_STATUS_NOT_ENROLLED
