"""Issue 18 through the real processes: enrollment at any time (R36), waiting periods (R37), the check
for a day (R40) and the incentive reported by hospitals (R39), in regions of the test's own whose years
2025-2027 run under the national defaults (Qingdao's counting) or with the first gap year counted
(Xianning's).
"""

from __future__ import annotations

import datetime as dt

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from ops.cli.show import time_text
from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.proto_values import date_to_proto
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.requests import create_region, new_request_id, policy, register
from tests.e2e.system import System
from tests.e2e.test_medins_cli import medins, ok
from tests.e2e.test_payments import items_of, order_for
from tests.factories import unique_resident_id
from tests.support import eventually

D = dt.date
QINGDAO, XIANNING = "930100", "930200"
STANDARD = 40000
BASE_CAP = 40_000_000  # the national default of the policy data (LongTermRules)
STEP = 100_000


def _years(region: str, *, first_gap_year_counts: bool = False) -> list[reg.RegionPolicy]:
    found = []
    for year in (2025, 2026, 2027):
        item = policy(region, year, STANDARD, (D(year - 1, 9, 1), D(year - 1, 12, 31)))
        if first_gap_year_counts:
            item.long_term.first_gap_year_counts = True
        found.append(item)
    return found


async def _regions(registration: RegistrationClient) -> None:
    known = await registration.ListRegions(reg.ListRegionsRequest(page_size=1000))
    if any(r.region_code == QINGDAO for r in known.regions):
        return
    await create_region(registration, QINGDAO, "青岛演示区", *_years(QINGDAO))
    await create_region(registration, XIANNING, "咸宁演示区", *_years(XIANNING, first_gap_year_counts=True))


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST)


async def _pay(system: System, collection: CollectionClient, number: str, year: int, when: dt.datetime) -> None:
    """Orders and pays the person's item for `year` on `when` (the processes' clock set to it)."""
    system.set_clock(when)
    items = [i for i in await items_of(collection, number, "连续") if i.insurance_year == year]
    assert items, f"no item for {year}"
    order = await order_for(collection, number, items)
    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, when))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED


async def _on(
    enrollment: EnrollmentClient, number: str, day: dt.date, purpose: int = chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT
) -> chk.EnrollmentCheckResult:
    reply = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            purpose=purpose,  # type: ignore[arg-type]
            target=chk.CheckTarget(resident_id_number=number, on_date=date_to_proto(day)),
        )
    )
    return reply.result


async def _granted(enrollment: EnrollmentClient, number: str, day: dt.date) -> chk.EnrollmentCheckResult:
    async def paid() -> chk.EnrollmentCheckResult:
        found = await _on(enrollment, number, day)
        assert found.status in (chk.CHECK_STATUS_COVERED, chk.CHECK_STATUS_WAITING), found
        return found

    return await eventually(paid)


def _start(result: chk.EnrollmentCheckResult) -> dt.date:
    return D(result.coverage_start.year, result.coverage_start.month, result.coverage_start.day)


async def test_continuous_enrollment_paid_in_the_window_is_covered_from_january_and_off_window_waits(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R37: paid in the window for 2025 → covered from 1 Jan; continuous, paid on 10 Feb 2026 → WAITING
    until 9 May, COVERED from 10 May. R39: the 2025 year with no fund use raises 2026's cap by a
    zero-claim step, and a hospital's RecordFundUse for 2025 takes it away."""
    await _regions(registration)
    number = unique_resident_id()
    system.set_clock(at(D(2024, 11, 20)))
    await registration.RegisterResident(register(number, name="连续", region=QINGDAO))
    await _pay(system, collection, number, 2025, at(D(2024, 11, 20)))
    first = await _granted(enrollment, number, D(2025, 1, 1))
    assert first.status == chk.CHECK_STATUS_COVERED

    system.set_clock(at(D(2025, 11, 20)))  # the renewal carries the enrollment into 2026 in its window (R10)
    await eventually(lambda: _has_year(collection, number, 2026))
    await _pay(system, collection, number, 2026, at(D(2026, 2, 10)))
    waiting = await _granted(enrollment, number, D(2026, 5, 9))
    assert (waiting.status, _start(waiting)) == (chk.CHECK_STATUS_WAITING, D(2026, 5, 10))
    assert (await _on(enrollment, number, D(2026, 5, 10))).status == chk.CHECK_STATUS_COVERED
    assert waiting.continuous_years == 1 and waiting.serious_illness_cap_fen == BASE_CAP + STEP

    reported = await registration.RecordFundUse(
        reg.RecordFundUseRequest(
            request_id=new_request_id(),
            resident_id_number=number,
            insurance_year=2025,
            settlement_id=f"JS-{number}",
            fund_paid_fen=123_456,
        )
    )
    assert reported.recorded and reported.next_year_cap_fen == BASE_CAP
    again = await registration.RecordFundUse(
        reg.RecordFundUseRequest(
            request_id=new_request_id(),
            resident_id_number=number,
            insurance_year=2025,
            settlement_id=f"JS-{number}",
            fund_paid_fen=123_456,
        )
    )
    assert not again.recorded  # the same settlement resent is recorded once
    assert (await _on(enrollment, number, D(2026, 6, 1))).serious_illness_cap_fen == BASE_CAP
    tax = await _on(enrollment, number, D(2026, 6, 1), chk.CHECK_PURPOSE_TAX_COLLECTION)
    assert (tax.continuous_years, tax.serious_illness_cap_fen) == (0, 0)  # not the tax side's to see


async def _has_year(collection: CollectionClient, number: str, year: int) -> None:
    items = await items_of(collection, number, "连续")
    assert any(i.insurance_year == year for i in items)


async def test_two_missed_years_wait_four_months_in_qingdao_and_five_in_xianning(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R37: missed 2025 and 2026, paid in the window for 2027 → 1 May 2027 (3 + 1) or 1 Jun (3 + 2)."""
    await _regions(registration)
    system.set_clock(at(D(2026, 11, 20)))
    starts = {}
    for region in (QINGDAO, XIANNING):
        number = unique_resident_id()
        await registration.RegisterResident(register(number, name="连续", region=region))
        await _pay(system, collection, number, 2027, at(D(2026, 11, 20)))
        starts[region] = _start(await _granted(enrollment, number, D(2027, 1, 1)))
    assert starts == {QINGDAO: D(2027, 5, 1), XIANNING: D(2027, 6, 1)}


async def test_a_resident_who_missed_the_window_enrolls_and_pays_in_january_and_waits(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R36: on 10 Jan 2027, after the window closed, the year in progress is on sale; paid that day with
    2025 and 2026 missed → 4 months → covered from 10 May 2027. The batch check answers per position."""
    await _regions(registration)
    number = unique_resident_id()
    system.set_clock(at(D(2027, 1, 10)))
    await registration.RegisterResident(register(number, name="连续", region=QINGDAO))
    assert [i.insurance_year for i in await items_of(collection, number, "连续")] == [2027]
    await _pay(system, collection, number, 2027, at(D(2027, 1, 10)))
    today = await _granted(enrollment, number, D(2027, 1, 10))
    assert (today.status, _start(today)) == (chk.CHECK_STATUS_WAITING, D(2027, 5, 10))
    batch = await enrollment.BatchCheckEnrollments(
        chk.BatchCheckEnrollmentsRequest(
            purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
            targets=[
                chk.CheckTarget(resident_id_number=number, on_date=date_to_proto(D(2027, 5, 9))),
                chk.CheckTarget(resident_id_number=number, on_date=date_to_proto(D(2027, 5, 10))),
                chk.CheckTarget(resident_id_number=number, insurance_year=2026, on_date=date_to_proto(D(2027, 5, 10))),
            ],
        )
    )
    first, second, wrong = batch.results
    assert (first.status, second.status) == (chk.CHECK_STATUS_WAITING, chk.CHECK_STATUS_COVERED)
    assert wrong.error.reason == "DATE_OUTSIDE_YEAR" and wrong.error.field == "targets[2].on_date"


async def _items(collection: CollectionClient, number: str) -> list[col.PayableItem]:
    return await items_of(collection, number, "连续")


async def _repair_items(collection: CollectionClient, number: str, count: int) -> list[col.PayableItem]:
    async def offered() -> list[col.PayableItem]:
        found = [i for i in await _items(collection, number) if i.fee_type == FEE_TYPE_REPAIR]
        assert len(found) == count
        return found

    return await eventually(offered)


FEE_TYPE_REPAIR = common_pb2.FEE_TYPE_RESIDENT_MEDICAL_REPAIR


async def test_repairs_quoted_then_paid_in_one_order_with_the_year_leave_the_fixed_wait(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R38 (Xianning's counting): missed 2025 and 2026 → 5 months; the quote says each repair is a month
    sooner, the most recent first (both buy a month here); both repaired in the same order as 2027 → the
    fixed 3 months remain: covered from 1 Apr."""
    await _regions(registration)
    number = unique_resident_id()
    system.set_clock(at(D(2026, 11, 20)))
    await registration.RegisterResident(register(number, name="连续", region=XIANNING))
    await _items(collection, number)
    quote = await registration.QuoteCoverage(reg.QuoteCoverageRequest(resident_id_number=number, insurance_year=2027))
    assert (quote.wait_months, quote.gap_years, _day(quote.coverage_start)) == (5, 2, D(2027, 6, 1))
    assert [(r.repaired_year, r.amount_fen, _day(r.coverage_start_if_repaired)) for r in quote.repairs] == [
        (2026, STANDARD, D(2027, 5, 1)),
        (2025, STANDARD, D(2027, 4, 1)),
    ]
    assert (list(quote.idle_repair_years), quote.least_wait_months) == ([], 3)
    told = await ok(system, "quote", number, "--year", "2027")
    assert "a waiting period of 5 months (2 missed years before it), covered from 2027-06-01" in told, told
    assert "repair 2026 for 400.00 yuan: covered from 2027-05-01" in told, told
    assert "repair 2025 for 400.00 yuan: covered from 2027-04-01" in told, told
    assert "would not move the start" not in told, told
    offered = await registration.OfferRepairs(
        reg.OfferRepairsRequest(request_id=new_request_id(), resident_id_number=number, insurance_year=2027)
    )
    assert [r.repaired_year for r in offered.repairs] == [2026, 2025]
    repairs = await _repair_items(collection, number, 2)
    await registration.OfferRepairs(  # offering again adds no item
        reg.OfferRepairsRequest(request_id=new_request_id(), resident_id_number=number, insurance_year=2027)
    )
    year = [i for i in await _items(collection, number) if i.fee_type == common_pb2.FEE_TYPE_RESIDENT_MEDICAL]
    order = await order_for(collection, number, year + repairs)
    assert order.total_fen == 3 * STANDARD  # R19: one order, one payment
    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, at(D(2026, 11, 20))))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    covered = await _granted(enrollment, number, D(2027, 1, 1))
    assert (covered.status, _start(covered)) == (chk.CHECK_STATUS_WAITING, D(2027, 4, 1))


async def test_a_repair_paid_after_the_year_moves_its_start_earlier(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R38: 2027 paid in the window after missing 2025 and 2026 (Qingdao: 4 months, 1 May); only 2026 is
    offered for repair (a second repair would leave the fixed 3 months as they are); repaired in January
    → the start moves to 1 Apr, and the check says so; nothing is left worth repairing then."""
    await _regions(registration)
    number = unique_resident_id()
    system.set_clock(at(D(2026, 11, 20)))
    await registration.RegisterResident(register(number, name="连续", region=QINGDAO))
    await _pay(system, collection, number, 2027, at(D(2026, 11, 20)))
    assert _start(await _granted(enrollment, number, D(2027, 1, 1))) == D(2027, 5, 1)
    system.set_clock(at(D(2027, 1, 15)))
    offered = await registration.OfferRepairs(
        reg.OfferRepairsRequest(request_id=new_request_id(), resident_id_number=number, insurance_year=2027)
    )
    assert [r.repaired_year for r in offered.repairs] == [2026]
    latest = [i for i in await _repair_items(collection, number, 1) if i.insurance_year == 2026]
    order = await order_for(collection, number, latest)
    paid = await collection.NotifyPayment(
        channels.notification(Channel.ALIPAY, channels.alipay(order.order_id, order.total_fen, at(D(2027, 1, 15))))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED

    async def moved() -> None:
        found = await _on(enrollment, number, D(2027, 1, 20))
        assert (found.status, _start(found)) == (chk.CHECK_STATUS_WAITING, D(2027, 4, 1))

    await eventually(moved)
    again = await medins(system, "repair", number, "--year", "2027")
    assert again.returncode == 1 and "REPAIR_WOULD_NOT_SHORTEN" in again.stderr, again.stderr
    assert "repairing 2025 would not move the start of 2027" in again.stderr, again.stderr

    # The officer's one command (issue 18 item 8): every step, with the waits and why.
    timeline = await ok(system, "person", number)
    assert "registered in 930100 as NON_EMPLOYED" in timeline, timeline
    assert "coverage of 2027 (930100) granted from 2027-05-01: 4 months: 3 fixed + 1 for 2 missed years" in timeline
    assert "coverage of 2027 (930100) start moved earlier from 2027-04-01" in timeline, timeline
    assert "repaired years: 2026" in timeline
    assert "paid 400.00 yuan for 2026 (RESIDENT_MEDICAL_REPAIR) by ALIPAY" in timeline, timeline
    paid_year = await medins(system, "quote", number, "--year", "2027")
    assert paid_year.returncode == 1 and "YEAR_NOT_PAYABLE" in paid_year.stderr, paid_year.stderr


async def test_medins_person_shows_every_order_and_every_refund_a_double_payment_included(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """Issue 18 item 8 (R19, R20, R23): the officer's one command lists the person's orders — 2027 paid,
    the 2026 repair ordered and left unpaid — and the refund of the money that paid 2027 a second time
    (a double payment, which applied nothing: no payment record shows it), with amount, reason, state."""
    await _regions(registration)
    number = unique_resident_id()
    when = at(D(2026, 11, 20))
    system.set_clock(when)
    await registration.RegisterResident(register(number, name="连续", region=QINGDAO))
    await registration.OfferRepairs(
        reg.OfferRepairsRequest(request_id=new_request_id(), resident_id_number=number, insurance_year=2027)
    )
    repair = await _repair_items(collection, number, 1)
    year = [i for i in await _items(collection, number) if i.fee_type == common_pb2.FEE_TYPE_RESIDENT_MEDICAL]
    paid_order = await order_for(collection, number, year)
    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(paid_order.order_id, paid_order.total_fen, when))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    again = await collection.NotifyPayment(  # the same order paid once more, another transaction
        channels.notification(Channel.ALIPAY, channels.alipay(paid_order.order_id, paid_order.total_fen, when))
    )
    assert again.outcome == col.NOTIFICATION_OUTCOME_REFUND_RAISED
    refund = (await collection.GetRefund(col.GetRefundRequest(refund_id=again.refund_id))).refund
    assert refund.reason == col.REFUND_REASON_DOUBLE_PAYMENT
    unpaid_order = await order_for(collection, number, repair)
    assert unpaid_order.status == col.ORDER_STATUS_PENDING
    await _granted(enrollment, number, D(2027, 1, 1))

    timeline = await ok(system, "person", number)
    assert ": 1 enrollments, 2 orders, 1 payment records, 1 refunds" in timeline, timeline
    assert (
        f"order {paid_order.order_id}: PAID 400.00 yuan for 2027 RESIDENT_MEDICAL; paid 2026-11-20 10:00:00 CST"
        in timeline
    ), timeline
    assert (
        f"order {unpaid_order.order_id}: PENDING 400.00 yuan for 2026 RESIDENT_MEDICAL_REPAIR; unpaid, expires "
        f"{time_text(unpaid_order.expire_time)}" in timeline
    ), timeline
    assert f"refund {refund.refund_id} of 400.00 yuan (DOUBLE_PAYMENT) for payment {refund.payment_id}: " in timeline, (
        timeline
    )
    assert "paid 400.00 yuan for 2027 (RESIDENT_MEDICAL) by WECHAT" in timeline, timeline
    # In time order, and at the same moment (the clock is frozen here) in the order things happened:
    # ordered, paid, refunded, then granted.
    lines = timeline.splitlines()

    def where(text: str) -> int:
        return next(n for n, line in enumerate(lines) if text in line)

    ordered, refunded = where(f"order {paid_order.order_id}"), where(f"refund {refund.refund_id}")
    assert ordered < where("by WECHAT") < refunded < where("coverage of 2027 (930100) granted"), timeline


def _day(value: common_pb2.Date) -> dt.date:
    return D(value.year, value.month, value.day)


async def test_a_reason_the_region_lists_exempts_from_the_wait_and_one_it_does_not_is_refused(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R37: a returning graduate (a reason the region lists, stated with its document at registration)
    pays in January outside the window and waits for nothing; a reason the region does not list is
    refused naming the field and the reasons it accepts."""
    region = "930300"
    known = await registration.ListRegions(reg.ListRegionsRequest(page_size=1000))
    if not any(r.region_code == region for r in known.regions):
        item = policy(region, 2027, STANDARD, (D(2026, 9, 1), D(2026, 12, 31)))
        item.long_term.exempt_reasons.append("RETURNING_GRADUATE")
        await create_region(registration, region, "免等待演示区", item)
    system.set_clock(at(D(2027, 1, 10)))
    number = unique_resident_id()
    registering = ["register", "--id", number, "--name", "连续", "--phone", "13800138000", "--region", region]
    registering += ["--category", "non-employed", "--evidence", "household-register:h-1", "--wait-exemption"]
    refused = await medins(system, *registering, "DISCHARGED_SOLDIER:d-1")
    assert refused.returncode == 1 and "WAIT_EXEMPTION_NOT_LISTED" in refused.stderr, refused.stderr
    assert "wait_exemption.reason" in refused.stderr and "RETURNING_GRADUATE" in refused.stderr
    await ok(system, *registering, "returning-graduate:g-1")
    await _pay(system, collection, number, 2027, at(D(2027, 1, 10)))
    covered = await _granted(enrollment, number, D(2027, 1, 10))
    assert covered.status == chk.CHECK_STATUS_COVERED
    assert "no wait: exempt (REGION_REASON)" in await ok(system, "person", number)


async def test_in_november_the_year_in_progress_is_sold_only_to_someone_who_waits_for_nothing(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R36 with R37: on 10 Nov 2027 a 3-month wait would outlast 2027, so an ordinary resident is sold
    nothing for it; a returning graduate (a reason the region lists) waits for nothing, buys 2027 that
    day and is covered from it."""
    region = "930400"
    known = await registration.ListRegions(reg.ListRegionsRequest(page_size=1000))
    if not any(r.region_code == region for r in known.regions):
        item = policy(region, 2027, STANDARD, (D(2026, 9, 1), D(2026, 12, 31)))
        item.long_term.exempt_reasons.append("RETURNING_GRADUATE")
        await create_region(registration, region, "年末免等待演示区", item)
    system.set_clock(at(D(2027, 11, 10)))
    ordinary, graduate = unique_resident_id(), unique_resident_id()
    common = ["--name", "连续", "--phone", "13800138000", "--region", region, "--category", "non-employed"]
    common += ["--evidence", "household-register:h-1"]
    await ok(system, "register", "--id", ordinary, *common)
    await ok(system, "register", "--id", graduate, *common, "--wait-exemption", "returning-graduate:g-1")
    assert [i.insurance_year for i in await items_of(collection, graduate, "连续")] == [2027]
    await _pay(system, collection, graduate, 2027, at(D(2027, 11, 10)))
    covered = await _granted(enrollment, graduate, D(2027, 11, 10))
    assert covered.status == chk.CHECK_STATUS_COVERED
    assert (await _on(enrollment, graduate, D(2027, 12, 31))).status == chk.CHECK_STATUS_COVERED
    before = await _on(enrollment, graduate, D(2027, 11, 9))
    assert before.status != chk.CHECK_STATUS_COVERED, str(before)
    owed = await system.value(
        "insurance",
        "SELECT count(*) FROM enrollment_years y JOIN enrollments e USING (enrollment_id)"
        " WHERE e.resident_id_number = $1",
        ordinary,
    )
    assert owed == 0  # registered, but no year is worth selling to them this late
    assert (await _on(enrollment, ordinary, D(2027, 11, 10))).status != chk.CHECK_STATUS_COVERED


async def _employee_insurance(
    system: System, registration: RegistrationClient, number: str, *, since: dt.date, ended: dt.date
) -> None:
    """Employee insurance (R8, reported by another agency) held from `since` and ended on `ended`, each
    report made on its day (the processes' clock set to it)."""
    system.set_clock(at(since))
    held = await registration.RecordExternalEnrollment(
        reg.RecordExternalEnrollmentRequest(
            request_id=new_request_id(),
            resident_id_number=number,
            name="连续",
            region_code=QINGDAO,
            region_name="青岛演示区",
            scheme=common_pb2.SCHEME_EMPLOYEE,
            reporting_agency="青岛演示区医疗保障局",
        )
    )
    system.set_clock(at(ended))
    await registration.EndExternalEnrollment(
        reg.EndExternalEnrollmentRequest(
            request_id=new_request_id(),
            external_enrollment_id=held.external_enrollment.external_enrollment_id,
            reason="离职,职工医保停保",
        )
    )


async def test_a_switch_from_employee_insurance_within_three_months_waits_for_nothing(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R37 (switching schemes, policy scheme_switch_months = 3): employee insurance held since 2025 ends
    on 15 Mar 2027. Registered and paid for 2027 on 15 May (2 months after) → no wait, covered from the
    payment day; the same on 15 Jul (4 months after) → continuous, but paid outside the window: the fixed
    3 months, covered from 15 Oct 2027."""
    await _regions(registration)
    ended = D(2027, 3, 15)
    for paid_on, status, start in (
        (D(2027, 5, 15), chk.CHECK_STATUS_COVERED, None),
        (D(2027, 7, 15), chk.CHECK_STATUS_WAITING, D(2027, 10, 15)),
    ):
        number = unique_resident_id()
        await _employee_insurance(system, registration, number, since=D(2025, 1, 5), ended=ended)
        system.set_clock(at(paid_on))
        await registration.RegisterResident(register(number, name="连续", region=QINGDAO))
        await _pay(system, collection, number, 2027, at(paid_on))
        found = await _granted(enrollment, number, paid_on)
        assert found.status == status, (paid_on, str(found))
        if start is None:
            assert (await _on(enrollment, number, paid_on - dt.timedelta(days=1))).status != chk.CHECK_STATUS_COVERED
        else:
            assert _start(found) == start, (paid_on, str(found))
            assert (await _on(enrollment, number, start)).status == chk.CHECK_STATUS_COVERED
