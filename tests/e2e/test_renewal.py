"""R10: when a region's window opens, every active enrollment is carried into the new year exactly once,
even if the renewal worker is killed mid-run and restarted."""

from __future__ import annotations

import asyncio
import datetime as dt

from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.clock import CST
from services.common.resident_id import check_character
from tests.e2e.clients import RegistrationClient
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import System
from tests.support import eventually

D = dt.date
REGION = "349901"
PEOPLE = 3_000
THROTTLED = {"MEDINS_RENEWAL_BATCH_SIZE": "100", "MEDINS_RENEWAL_BATCH_PAUSE_MS": "30"}


def person(i: int) -> str:
    body = f"349901{D(1960, 1, 1) + dt.timedelta(days=i % 9000):%Y%m%d}{i // 9000:03d}"
    return body + check_character(body)


async def carried(system: System) -> int:
    return int(
        await system.value(
            "insurance",
            """SELECT count(*) FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
               WHERE e.region_code = $1 AND y.insurance_year = 2031""",
            REGION,
        )
    )


async def test_renewal_carries_everyone_once_across_a_killed_worker(
    system: System, registration: RegistrationClient
) -> None:
    await create_region(
        registration,
        REGION,
        "续保测试市",
        policy(REGION, 2030, 40000, (D(2029, 9, 1), D(2029, 12, 31))),
        policy(REGION, 2031, 42000, (D(2030, 9, 1), D(2030, 12, 31))),
    )
    system.set_clock(dt.datetime(2029, 10, 1, 9, tzinfo=CST))
    rows = [
        reg.RegistrationRow(
            row_number=i + 1,
            resident_id_number=person(i),
            name=f"居民{i}",
            phone="13700137000",
            region_code=REGION,
            category=common_pb2.CATEGORY_NON_EMPLOYED,
            evidence=[reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref=f"h-{i}")],
        )
        for i in range(PEOPLE)
    ]
    for start in range(0, PEOPLE, 2000):
        reply = await registration.BatchRegisterResidents(
            reg.BatchRegisterResidentsRequest(
                request_id=new_request_id(),
                batch_id="renewal-test",
                submitter_code=REGION,
                rows=rows[start : start + 2000],
            )
        )
        assert all(r.outcome == reg.ROW_OUTCOME_REGISTERED for r in reply.results)
    assert await carried(system) == 0

    # A throttled worker, so that it can be killed half-way.
    assert await asyncio.to_thread(system.stop, "renewal") == 0
    system.start("renewal", THROTTLED)
    await system.wait_ready(["renewal"])
    system.set_clock(dt.datetime(2030, 9, 1, 0, 0, 1, tzinfo=CST))  # the 2031 window opens

    async def half_way() -> int:
        done = await carried(system)
        assert 0 < done < PEOPLE
        return done

    await eventually(half_way, interval=0.01)
    await asyncio.to_thread(system.kill, "renewal")
    after_kill = await carried(system)
    assert after_kill < PEOPLE

    system.start("renewal", THROTTLED)
    await system.wait_ready(["renewal"])

    async def complete() -> None:
        assert await carried(system) == PEOPLE

    await eventually(complete, timeout=120)

    renewed: dict[str, int] = {}
    for row in await system.query("insurance", "SELECT envelope FROM outbox WHERE event_type = 'enrollment.renewed'"):
        event = events_pb2.EventEnvelope.FromString(row[0]).enrollment_renewed
        if event.region_code == REGION:
            renewed[event.enrollment_id] = renewed.get(event.enrollment_id, 0) + 1
    assert len(renewed) == PEOPLE and set(renewed.values()) == {1}

    async def assessed_once() -> None:
        counts = await system.query(
            "tax",
            """SELECT count(*), count(DISTINCT resident_id_number) FROM payable_items
               WHERE region_code = $1 AND insurance_year = 2031""",
            REGION,
        )
        assert tuple(counts[0]) == (PEOPLE, PEOPLE)

    await eventually(assessed_once, timeout=120)
    amount = await system.value(
        "tax", "SELECT DISTINCT amount_fen FROM payable_items WHERE region_code = $1 AND insurance_year = 2031", REGION
    )
    assert amount == 42000

    # Leave the ordinary worker running for the tests that follow.
    assert await asyncio.to_thread(system.stop, "renewal") == 0
    system.start("renewal")
    await system.wait_ready(["renewal"])
