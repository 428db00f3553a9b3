"""The one registration pipeline against the real insurance database: a batch row or an approval racing
another agency's external record of the same person (R8), R7a on approval, and the check document
built by the real projection and answered through the real servicer per purpose (R15)."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from typing import Any

from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from services.common.clock import CST, FixedClock
from services.common.db import Database, Pool
from services.common.periods import DateRange
from services.enrollment.audit import AuditLog
from services.enrollment.grpc_api import EnrollmentCheckServicer
from services.registration.domain.batch import Row, RowOutcome
from services.registration.domain.model import (
    Category,
    EnrollmentState,
    Evidence,
    EvidenceKind,
    Region,
    ReviewMode,
    Scheme,
    StopReason,
)
from services.registration.handlers.batch import register_batch
from services.registration.handlers.external import RecordExternalEnrollment, record_external_enrollment
from services.registration.handlers.registration import Application, register_resident
from services.registration.handlers.review import ReviewRegistration, approve_registration
from services.registration.handlers.stop import StopEnrollment, age_out_due, stop_enrollment
from services.registration.unit_of_work import RegistrationUnitOfWork
from tests.factories import resident_id
from tests.integration.insurance_setup import regions_selling_2027
from tests.support import eventually

D = dt.date
AUTO_REGION, MANUAL_REGION = Region("340800", "安庆市"), Region("341800", "宣城市")
HOUSEHOLD = (Evidence(EvidenceKind.HOUSEHOLD_REGISTER, "HR-1"),)


def at(day: dt.date, hour: int = 10) -> FixedClock:
    return FixedClock(dt.datetime(day.year, day.month, day.day, hour, tzinfo=CST))


async def set_up(pool: Pool) -> None:
    await regions_selling_2027(
        pool, at(D(2026, 8, 1)), {AUTO_REGION: ReviewMode.AUTOMATIC, MANUAL_REGION: ReviewMode.MANUAL}
    )


def application(number: str, region: Region, key: int = 0) -> Application:
    return Application(key, number, "张三", "13800138000", region.code, None, Category.NON_EMPLOYED, HOUSEHOLD)


def external(number: str) -> RecordExternalEnrollment:
    return RecordExternalEnrollment(number, "张三", "320400", "常州市", Scheme.EMPLOYEE, "常州市医保局")


async def open_enrollments(pool: Pool, number: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM enrollments WHERE open_resident_id = $1", number))


async def blocked_on_a_lock(pool: Pool) -> None:
    waiting = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    assert waiting >= 1


async def test_a_batch_row_racing_an_external_record_of_the_same_person_is_refused(insurance_pool: Pool) -> None:
    await set_up(insurance_pool)
    clock = at(D(2026, 10, 1))
    number = resident_id(D(1980, 1, 1))
    row = Row(1, number, "张三", "13800138000", AUTO_REGION.code, "", Category.NON_EMPLOYED, HOUSEHOLD, b"r1")

    async def batch() -> Any:
        async with RegistrationUnitOfWork(insurance_pool) as uow:
            results = await register_batch("B-RACE", "VILLAGE-1", [row], uow, clock)
            await uow.commit()
        return results

    async with RegistrationUnitOfWork(insurance_pool) as recorder:
        await record_external_enrollment(external(number), recorder, clock)
        racing = asyncio.create_task(batch())
        await eventually(lambda: blocked_on_a_lock(insurance_pool))  # the row waits on the person's lock
        await recorder.commit()
    (result,) = await racing
    assert (result.outcome, result.error_reason) == (RowOutcome.REFUSED, "DUPLICATE_ENROLLMENT")
    assert await open_enrollments(insurance_pool, number) == 0


async def test_an_approval_racing_an_external_record_of_the_same_person_is_refused(insurance_pool: Pool) -> None:
    await set_up(insurance_pool)
    clock = at(D(2026, 10, 1))
    number = resident_id(D(1980, 1, 1))
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        pending = await register_resident(application(number, MANUAL_REGION), uow, clock)
        await uow.commit()
    assert pending.state is EnrollmentState.PENDING_REVIEW

    async def approve() -> Exception | None:
        try:
            async with RegistrationUnitOfWork(insurance_pool) as uow:
                await approve_registration(ReviewRegistration(pending.enrollment_id, "officer-1", ""), uow, clock)
                await uow.commit()
        except Exception as error:
            return error
        return None

    async with RegistrationUnitOfWork(insurance_pool) as recorder:
        await record_external_enrollment(external(number), recorder, clock)
        racing = asyncio.create_task(approve())
        await eventually(lambda: blocked_on_a_lock(insurance_pool))
        await recorder.commit()
    refusal = await racing
    assert getattr(refusal, "reason", None) == "DUPLICATE_ENROLLMENT"
    state = await insurance_pool.fetchval("SELECT state FROM enrollments WHERE resident_id_number = $1", number)
    assert state == "PENDING_REVIEW"
    assert not await insurance_pool.fetchval(
        """SELECT count(*) FROM enrollments e JOIN enrollment_years y USING (enrollment_id)
           WHERE resident_id_number = $1""",
        number,
    )


async def test_a_registration_approved_after_the_window_owes_the_year_for_the_grace_period(
    insurance_pool: Pool,
) -> None:
    """R7a: registered 30 Dec, approved 3 Jan → 2027 owed, payable without a wait until 18 Jan (R37);
    from 2025 it stays payable, with a wait, outside the window to 30 Sep (R36)."""
    await set_up(insurance_pool)
    number = resident_id(D(1980, 1, 1))
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        pending = await register_resident(application(number, MANUAL_REGION), uow, at(D(2026, 12, 30)))
        await uow.commit()
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        approved = await approve_registration(
            ReviewRegistration(pending.enrollment_id, "officer-1", ""), uow, at(D(2027, 1, 3))
        )
        await uow.commit()
    (year,) = approved.years
    assert (year.insurance_year, year.wait_free_until, year.standard_fen) == (2027, D(2027, 1, 18), 40000)
    assert year.payable.end == D(2027, 9, 30)
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        stored = await uow.enrollments.get(pending.enrollment_id)
    assert stored is not None and stored.years[0].wait_free_until == D(2027, 1, 18)
    assert year.coverage == DateRange(D(2027, 1, 1), D(2027, 12, 31))


async def check(pool: Pool, number: str, year: int, purpose: chk.CheckPurpose.ValueType) -> chk.EnrollmentCheckResult:
    """Asks the real servicer (the production read and masking path) over the real read model."""
    database = Database("unused")
    database._pool = pool  # the servicer reads through the pool the test already holds
    audit, stop = AuditLog(), asyncio.Event()
    writing = asyncio.create_task(audit.run(pool, stop))  # every check is recorded before it is answered
    await asyncio.sleep(0)
    servicer = EnrollmentCheckServicer(database, audit, at(D(2028, 1, 1)))
    request = chk.CheckEnrollmentRequest(
        caller_id="test", purpose=purpose, target=chk.CheckTarget(resident_id_number=number, insurance_year=year)
    )
    try:
        return (await servicer.CheckEnrollment(request, None)).result  # type: ignore[arg-type]
    finally:
        stop.set()
        await writing


async def test_a_move_between_regions_and_its_stop_read_back_through_the_check_per_purpose(
    insurance_pool: Pool,
) -> None:
    await set_up(insurance_pool)
    number = resident_id(D(1980, 1, 1))
    clock = at(D(2026, 10, 1))
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        first = await register_resident(application(number, AUTO_REGION), uow, clock)
        await stop_enrollment(StopEnrollment(first.enrollment_id, StopReason.MOVED_AWAY, ""), uow, clock)
        await register_resident(application(number, MANUAL_REGION), uow, clock)
        await uow.commit()
    admin = await check(insurance_pool, number, 2027, chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION)
    assert (admin.status, admin.region_code) == (chk.CHECK_STATUS_PENDING_REVIEW, MANUAL_REGION.code)
    assert admin.category == common_pb2.CATEGORY_NON_EMPLOYED
    hospital = await check(insurance_pool, number, 2027, chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT)
    assert hospital.region_code == MANUAL_REGION.code and hospital.category == common_pb2.CATEGORY_UNSPECIFIED

    # Someone who stopped and went nowhere we know: later years say so, with the date and (per purpose) why.
    gone = resident_id(D(1981, 1, 1))
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        enrollment = await register_resident(application(gone, AUTO_REGION), uow, clock)
        await stop_enrollment(StopEnrollment(enrollment.enrollment_id, StopReason.MOVED_AWAY, ""), uow, clock)
        await uow.commit()
    other_region = await check(insurance_pool, gone, 2028, chk.CHECK_PURPOSE_CROSS_REGION_REGISTRATION)
    assert (other_region.status, other_region.region_code) == (chk.CHECK_STATUS_STOPPED, AUTO_REGION.code)
    assert other_region.end_reason == chk.END_REASON_MOVED_AWAY
    assert (other_region.ended_on.year, other_region.ended_on.month, other_region.ended_on.day) == (2026, 10, 1)
    hospital_later = await check(insurance_pool, gone, 2028, chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT)
    assert hospital_later.status == chk.CHECK_STATUS_STOPPED
    assert hospital_later.end_reason == chk.END_REASON_UNSPECIFIED and hospital_later.ended_on.year == 2026


async def test_a_minor_aged_out_on_the_18th_birthday_is_answered_aged_out_in_later_years(insurance_pool: Pool) -> None:
    """R12, R15: the age-out worker's batch stops the minor; the check then says AGED_OUT, with the
    birthday, for the years after, not NOT_ENROLLED."""
    await set_up(insurance_pool)
    number = resident_id(D(2008, 11, 2))
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        minor = await register_resident(
            replace(application(number, AUTO_REGION), category=Category.MINOR), uow, at(D(2026, 10, 1))
        )
        await uow.commit()
    assert await age_out_due(insurance_pool, at(D(2026, 11, 1)), 100) == 0  # not 18 yet
    assert await age_out_due(insurance_pool, at(D(2026, 11, 2)), 100) == 1
    async with RegistrationUnitOfWork(insurance_pool) as uow:
        aged = await uow.enrollments.get(minor.enrollment_id)
    assert aged is not None and aged.state is EnrollmentState.AGED_OUT and aged.stop_year == 2026
    assert [(y.insurance_year, y.status.value) for y in aged.years] == [(2027, "CANCELLED")]
    later = await check(insurance_pool, number, 2028, chk.CHECK_PURPOSE_CROSS_REGION_REGISTRATION)
    assert (later.status, later.end_reason) == (chk.CHECK_STATUS_AGED_OUT, chk.END_REASON_AGED_OUT)
    assert (later.ended_on.year, later.ended_on.month, later.ended_on.day) == (2026, 11, 2)
