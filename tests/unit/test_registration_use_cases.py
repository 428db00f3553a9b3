"""The registration, review and stop use cases against an in-memory unit of work: the whole pipeline's
rules (R7, R7a, R8, R11, R13a) in milliseconds, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from medins.events.v1 import events_pb2

from services.common.clock import CST, FixedClock
from services.common.errors import DomainError
from services.registration.domain.model import (
    Category,
    EnrollmentState,
    Evidence,
    EvidenceKind,
    ExternalEnrollment,
    Region,
    ReviewMode,
    Scheme,
    StopReason,
    YearStatus,
)
from services.registration.handlers.registration import Application, register, register_resident
from services.registration.handlers.review import ReviewRegistration, approve_registration
from services.registration.handlers.stop import StopEnrollment, stop_enrollment
from tests.factories import region_policy, resident_id
from tests.unit.fake_registration import FakeUnitOfWork

D = dt.date
AUTO, MANUAL = Region("340800", "安庆市"), Region("341800", "宣城市")
HOUSEHOLD = (Evidence(EvidenceKind.HOUSEHOLD_REGISTER, "HR-1"),)
BIRTH = (*HOUSEHOLD, Evidence(EvidenceKind.BIRTH_CERTIFICATE, "BC-1"))


def world() -> FakeUnitOfWork:
    fake = FakeUnitOfWork()
    for region, mode in ((AUTO, ReviewMode.AUTOMATIC), (MANUAL, ReviewMode.MANUAL)):
        fake.regions.regions[region.code] = region
        fake.regions.policies[region.code] = {
            y: region_policy(y, 40000, region=region.code, newborn_fen=36000, manual=mode is ReviewMode.MANUAL)
            for y in (2026, 2027)
        }
    return fake


def clock(day: dt.date) -> FixedClock:
    return FixedClock(dt.datetime(day.year, day.month, day.day, 10, tzinfo=CST))


def application(number: str, region: Region, category: Category = Category.NON_EMPLOYED, key: int = 0) -> Application:
    evidence = BIRTH if category is Category.NEWBORN else HOUSEHOLD
    return Application(key, number, "李四", "13900139000", region.code, None, category, evidence)


async def test_an_automatic_registration_is_active_payable_announced_and_projected() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    enrollment = await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2026, 10, 1)))
    assert enrollment.state is EnrollmentState.ACTIVE
    # R36: payable to 30 Sep 2027 (off-window sale), without a wait to the window's end (R37).
    assert [(y.insurance_year, y.status, y.payable.end, y.wait_free_until) for y in enrollment.years] == [
        (2027, YearStatus.AWAITING_PAYMENT, D(2027, 9, 30), D(2026, 12, 31))
    ]
    assert fake.event_names() == ["enrollment.registered"]
    assert fake.enrollments.locked == [number] and fake.projection.refreshed == [number]


async def test_a_second_open_enrollment_elsewhere_is_refused_naming_the_region() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2026, 10, 1)))
    with pytest.raises(DomainError) as refused:
        await register_resident(application(number, MANUAL), fake.as_uow(), clock(D(2026, 10, 2)))
    assert refused.value.reason == "DUPLICATE_ENROLLMENT" and refused.value.metadata["region_code"] == AUTO.code
    assert len(fake.enrollments.rows) == 1 and fake.event_names() == ["enrollment.registered"]


async def test_an_enrollment_held_in_another_system_blocks_registration() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    fake.external.held[number] = [
        ExternalEnrollment(
            "x-1", number, "李四", "320400", "常州市", Scheme.EMPLOYEE, "常州市医保局", True, clock(D(2026, 1, 1)).now()
        )
    ]
    with pytest.raises(DomainError) as refused:
        await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2026, 10, 1)))
    assert refused.value.reason == "DUPLICATE_ENROLLMENT" and "常州市" in refused.value.message_zh
    assert not fake.enrollments.rows and not fake.outbox.events


async def test_manual_review_owes_nothing_until_approved_and_a_late_approval_keeps_the_year() -> None:
    """R7 and R7a: registered 30 Dec, approved 3 Jan → the year is owed, payable until 18 Jan."""
    fake = world()
    number = resident_id(D(1980, 1, 1))
    pending = await register_resident(application(number, MANUAL), fake.as_uow(), clock(D(2026, 12, 30)))
    assert pending.state is EnrollmentState.PENDING_REVIEW and not pending.years and not fake.outbox.events
    approved = await approve_registration(
        ReviewRegistration(pending.enrollment_id, "officer-7", ""), fake.as_uow(), clock(D(2027, 1, 3))
    )
    assert approved.state is EnrollmentState.ACTIVE
    # From 2025 the year is payable anyway (R36); the grace keeps it payable without a wait (R37).
    assert [(y.insurance_year, y.wait_free_until) for y in approved.years] == [(2027, D(2027, 1, 18))]
    assert fake.event_names() == ["enrollment.registered"]


async def test_an_approval_inside_the_window_keeps_the_window_if_it_is_later() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    pending = await register_resident(application(number, MANUAL), fake.as_uow(), clock(D(2026, 9, 1)))
    approved = await approve_registration(
        ReviewRegistration(pending.enrollment_id, "officer-7", ""), fake.as_uow(), clock(D(2026, 9, 2))
    )
    # 2026 was on sale outside its window that day (R36): it keeps its terms; 2027 keeps its window.
    assert [(y.insurance_year, y.wait_free_until) for y in approved.years] == [
        (2026, D(2025, 12, 31)),
        (2027, D(2026, 12, 31)),
    ]


async def test_a_newborn_registered_in_the_window_gets_day_ninety_for_every_year() -> None:
    """R13a: born 15 Nov 2026, registered 20 Nov: 2026 and 2027 both payable until 13 Feb 2027."""
    fake = world()
    number = resident_id(D(2026, 11, 15))
    enrollment = await register_resident(
        application(number, AUTO, Category.NEWBORN), fake.as_uow(), clock(D(2026, 11, 20))
    )
    # R13a under R37: both years payable without a wait until day 90 (2026 stays payable until then).
    assert [(y.insurance_year, y.standard_fen, y.payable.end, y.wait_free_until) for y in enrollment.years] == [
        (2026, 36000, D(2027, 2, 13), D(2027, 2, 13)),
        (2027, 40000, D(2027, 9, 30), D(2027, 2, 13)),
    ]


async def test_a_stop_cancels_unpaid_years_keeps_paid_ones_and_announces_itself() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    enrollment = await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2025, 10, 1)))
    enrollment = fake.enrollments.rows[enrollment.enrollment_id]
    paid = replace(enrollment.years[0], status=YearStatus.COVERED, paid_by_payment_id="p-1")
    fake.enrollments.rows[enrollment.enrollment_id] = replace(enrollment, years=(paid,))
    stopped = await stop_enrollment(
        StopEnrollment(enrollment.enrollment_id, StopReason.MOVED_AWAY, ""), fake.as_uow(), clock(D(2026, 10, 1))
    )
    assert stopped.state is EnrollmentState.STOPPED and stopped.stop_year == 2026
    assert [(y.insurance_year, y.status) for y in stopped.years] == [(2026, YearStatus.COVERED)]
    name, payload = fake.outbox.events[-1]
    assert name == "enrollment.stopped"
    assert isinstance(payload, events_pb2.EnrollmentStopped) and payload.enrollment_sequence == enrollment.sequence + 1


async def test_a_stop_cancels_the_years_still_unpaid() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    enrollment = await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2026, 10, 1)))
    stopped = await stop_enrollment(
        StopEnrollment(enrollment.enrollment_id, StopReason.JOINED_EMPLOYEE_INSURANCE, ""),
        fake.as_uow(),
        clock(D(2026, 11, 1)),
    )
    assert [(y.insurance_year, y.status) for y in stopped.years] == [(2027, YearStatus.CANCELLED)]
    assert not (await fake.enrollments.open_enrollments_of([number]))


async def test_one_person_twice_in_a_submission_is_refused_on_the_second_row() -> None:
    fake = world()
    number = resident_id(D(1980, 1, 1))
    outcomes = await register(
        [application(number, AUTO, key=1), application(number, AUTO, key=2)], fake.as_uow(), clock(D(2026, 10, 1)).now()
    )
    assert not isinstance(outcomes[1], DomainError)
    assert isinstance(outcomes[2], DomainError) and outcomes[2].reason == "DUPLICATE_IN_BATCH"
    assert len(fake.enrollments.rows) == 1


async def test_a_year_already_covered_before_a_move_is_not_owed_again_in_the_new_region() -> None:
    """R17a, R23: paid 2027 in Anqing, stopped, registered in Xuancheng the same window → nothing owed."""
    fake = world()
    number = resident_id(D(1980, 1, 1))
    first = await register_resident(application(number, AUTO), fake.as_uow(), clock(D(2026, 10, 1)))
    paid = replace(first.years[0], status=YearStatus.COVERED, paid_by_payment_id="p-1")
    fake.enrollments.rows[first.enrollment_id] = replace(fake.enrollments.rows[first.enrollment_id], years=(paid,))
    await stop_enrollment(
        StopEnrollment(first.enrollment_id, StopReason.MOVED_AWAY, ""), fake.as_uow(), clock(D(2026, 10, 2))
    )
    fake.regions.policies[MANUAL.code] = {
        y: replace(p, review_mode=ReviewMode.AUTOMATIC) for y, p in fake.regions.policies[MANUAL.code].items()
    }
    moved = await register_resident(application(number, MANUAL), fake.as_uow(), clock(D(2026, 10, 3)))
    assert moved.state is EnrollmentState.ACTIVE and moved.years == ()
