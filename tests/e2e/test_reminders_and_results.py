"""R29 end to end: an unpaid reminder round reaches each unpaid person once across a killed worker;
collection results by region, category, channel and day, exported as CSV and a PNG chart."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import subprocess
import sys
from collections import Counter

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.domain.model import Channel
from services.collection.gateways.local_files import read_lines
from services.common.clock import CST
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import ROOT, System
from tests.e2e.test_payments import items_of, order_for
from tests.factories import unique_resident_id
from tests.support import eventually, refused

D = dt.date
YEAR = 2041
WINDOW = (D(2040, 9, 1), D(2040, 12, 10))
# The reminder test's region closes soon after the suite's start (20 Nov 2023): a short move of the clock.
REMINDER_YEAR = 2024
REMINDER_WINDOW = (D(2023, 9, 1), D(2023, 12, 10))


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST)


async def enroll(
    registration: RegistrationClient, collection: CollectionClient, region: str, name: str, year: int = YEAR
) -> tuple[str, col.PayableItem]:
    number = unique_resident_id()
    await registration.RegisterResident(
        reg.RegisterResidentRequest(
            request_id=new_request_id(),
            resident_id_number=number,
            name=name,
            phone="13800138000",
            region_code=region,
            category=common_pb2.CATEGORY_NON_EMPLOYED,
            evidence=[reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref="doc")],
        )
    )
    items = await items_of(collection, number, name)
    return number, next(i for i in items if i.insurance_year == year)


async def pay(collection: CollectionClient, number: str, item: col.PayableItem, paid_at: dt.datetime) -> None:
    order = await order_for(collection, number, [item])
    reply = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, paid_at))
    )
    assert reply.outcome == col.NOTIFICATION_OUTCOME_APPLIED


def reminders_to(system: System, people: set[str]) -> Counter[str]:
    return Counter(
        m["recipient_id_number"]
        for m in read_lines(system.notifier_file)
        if m["kind"] == "UNPAID_REMINDER" and m["recipient_id_number"] in people
    )


async def test_a_reminder_round_reaches_each_unpaid_person_once_across_a_killed_worker(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    region = "349911"
    await create_region(registration, region, "提醒测试市", policy(region, REMINDER_YEAR, 40000, REMINDER_WINDOW))
    system.set_clock(at(D(2023, 11, 20)))
    people = [await enroll(registration, collection, region, f"提醒{i}", REMINDER_YEAR) for i in range(7)]
    await pay(collection, people[0][0], people[0][1], at(D(2023, 11, 20)))
    unpaid = {number for number, _ in people[1:]}

    # A slow notifier, so the worker can be killed in the middle of the round.
    assert system.stop("reminders") == 0
    system.start("reminders", {"MEDINS_NOTIFIER_DELAY_MS": "400"})
    await system.wait_ready(["reminders"])
    system.set_clock(at(D(2023, 12, 5)))  # 5 days before the close: the round (7 days before) is due

    async def some_sent() -> int:
        sent = sum(reminders_to(system, unpaid).values())
        assert sent >= 1
        return sent

    await eventually(some_sent, timeout=30)
    system.kill("reminders")
    at_kill = sum(reminders_to(system, unpaid).values())
    assert 1 <= at_kill < len(unpaid), f"killed after {at_kill} of {len(unpaid)}: not halfway"

    system.start("reminders")
    await system.wait_ready(["reminders"])

    async def all_sent() -> None:
        assert set(reminders_to(system, unpaid)) == unpaid

    await eventually(all_sent, timeout=60)
    pending = await system.value(
        "tax",
        """SELECT count(*) FROM reminders m JOIN reminder_rounds r USING (round_id)
           WHERE r.region_code = $1 AND m.status <> 'SENT'""",
        region,
    )
    assert pending == 0
    counts = reminders_to(system, unpaid | {people[0][0]})
    assert counts == Counter(dict.fromkeys(unpaid, 1)), "once per unpaid person, none for the one who paid"
    assert await system.value("tax", "SELECT count(*) FROM reminder_rounds WHERE region_code = $1", region) == 1


async def test_collection_results_by_category_channel_and_day_export_as_csv_and_chart(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    regions = {"349912": "公示甲市", "349913": "公示乙市"}
    for code, name in regions.items():
        await create_region(registration, code, name, policy(code, YEAR, 40000, WINDOW))
    plan = {
        "349912": [(D(2040, 9, 5), D(2040, 9, 20)), (D(2040, 9, 5), None), (D(2040, 10, 10), D(2040, 11, 1))],
        "349913": [(D(2040, 9, 10), D(2040, 9, 12)), (D(2040, 11, 2), None), (D(2040, 11, 2), None)],
    }
    for code, people in plan.items():
        for i, (registered_on, paid_on) in enumerate(people):
            system.set_clock(at(registered_on))
            number, item = await enroll(registration, collection, code, f"公示{i}")
            if paid_on:
                system.set_clock(at(paid_on, 15))
                await pay(collection, number, item, at(paid_on, 15))
    system.set_clock(at(D(2040, 12, 1)))

    results = await collection.GetCollectionResults(
        col.GetCollectionResultsRequest(region_code="349912", insurance_year=YEAR)
    )
    assert (results.enrolled_count, results.assessed_count, results.paid_count, results.unpaid_count) == (3, 3, 2, 1)
    assert (results.paid_amount_fen, results.unpaid_amount_fen, results.paid_person_count) == (80000, 40000, 2)
    assert [(b.key, b.paid_count, b.unpaid_count) for b in results.by_category] == [("NON_EMPLOYED", 2, 1)]
    assert [(b.key, b.paid_count, b.paid_amount_fen) for b in results.by_channel] == [("WECHAT", 2, 80000)]
    by_day = {D(d.date.year, d.date.month, d.date.day): (d.paid_count, d.unpaid_count) for d in results.daily}
    assert len(by_day) == (D(2040, 12, 1) - D(2040, 9, 1)).days + 1
    assert by_day[D(2040, 9, 5)] == (0, 2) and by_day[D(2040, 9, 20)] == (1, 1)
    assert by_day[D(2040, 10, 10)] == (1, 2) and by_day[D(2040, 11, 1)] == (2, 1)

    nothing = await refused(
        collection.GetCollectionResults(col.GetCollectionResultsRequest(region_code="349912", insurance_year=2039))
    )
    assert nothing.reason == "NO_COLLECTION_RESULTS"
    bad = await refused(
        collection.GetCollectionResults(col.GetCollectionResultsRequest(region_code="34990", insurance_year=YEAR))
    )
    assert bad.fields == ["region_code"]

    out_csv, out_png = system.logs.parent / "collection_results.csv", system.logs.parent / "collection_results.png"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.collection_results",
        "--year",
        str(YEAR),
        "--region",
        "349912",
        "--region",
        "349913",
        "--csv",
        str(out_csv),
        "--chart",
        str(out_png),
        "--address",
        system.address("collection"),
        cwd=ROOT,
        env=system.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    rows = list(csv.DictReader(out_csv.read_text().splitlines()))
    totals = {r["region_code"]: r for r in rows if r["breakdown"] == "total"}
    assert (totals["349912"]["paid"], totals["349912"]["unpaid"], totals["349912"]["paid_yuan"]) == ("2", "1", "800.00")
    assert (totals["349913"]["paid"], totals["349913"]["unpaid"]) == ("1", "2")
    days = [r for r in rows if r["breakdown"] == "day" and r["region_code"] == "349913"]
    assert (days[0]["key"], days[-1]["key"], days[-1]["paid"], days[-1]["unpaid"]) == (
        "2040-09-01",
        "2040-12-01",
        "1",
        "2",
    )
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000

    failing = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.collection_results",
        "--year",
        "2039",
        "--region",
        "349912",
        "--csv",
        str(out_csv) + ".x",
        "--chart",
        str(out_png) + ".x",
        "--address",
        system.address("collection"),
        cwd=ROOT,
        env=system.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, error = await asyncio.wait_for(failing.communicate(), timeout=60)
    assert failing.returncode == 1 and b"NO_COLLECTION_RESULTS" in error and b"Traceback" not in error
