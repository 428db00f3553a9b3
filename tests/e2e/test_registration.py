"""Insurance side end to end: registration rules over gRPC, with events reaching the tax side."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.events.v1 import events_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.clock import CST
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.requests import create_region, new_request_id, policy, register
from tests.e2e.system import System
from tests.factories import resident_id, unique_resident_id
from tests.support import eventually, refused

D = dt.date
BIRTH_CERTIFICATE = reg.Evidence(kind=reg.EVIDENCE_KIND_BIRTH_CERTIFICATE, document_ref="doc-birth")


async def payable(
    collection: CollectionClient, number: str, name: str, *, settled: bool = False
) -> list[col.PayableItem]:
    reply = await collection.ListPayableItems(
        col.ListPayableItemsRequest(
            payer_id_number=number, insured_id_number=number, insured_name=name, include_settled=settled
        )
    )
    return list(reply.payable_items)


async def test_scenario_3_duplicate_enrollment_elsewhere_is_refused_until_stopped_there(
    registration: RegistrationClient,
) -> None:
    number = unique_resident_id()
    external = await registration.RecordExternalEnrollment(
        reg.RecordExternalEnrollmentRequest(
            request_id=new_request_id(),
            resident_id_number=number,
            name="钱八",
            region_code="320400",
            region_name="常州市",
            scheme=common_pb2.SCHEME_EMPLOYEE,
            reporting_agency="常州市医疗保障局",
        )
    )
    error = await refused(registration.RegisterResident(register(number, name="钱八")))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DUPLICATE_ENROLLMENT")
    assert error.localized == "此人在常州市存在职工参保信息,不能重复参保!"
    assert error.metadata["region_name"] == "常州市" and error.metadata["scheme"] == "EMPLOYEE"

    await registration.EndExternalEnrollment(
        reg.EndExternalEnrollmentRequest(
            request_id=new_request_id(),
            external_enrollment_id=external.external_enrollment.external_enrollment_id,
            reason="已在常州办理停保",
        )
    )
    registered = await registration.RegisterResident(register(number, name="钱八"))
    assert registered.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE


async def test_an_open_enrollment_in_another_of_our_regions_is_a_duplicate(registration: RegistrationClient) -> None:
    number = unique_resident_id()
    await registration.RegisterResident(register(number, region="340800"))
    error = await refused(registration.RegisterResident(register(number, region="654000")))
    assert error.reason == "DUPLICATE_ENROLLMENT"
    assert error.localized == "此人在安庆市存在居民参保信息,不能重复参保!"
    again = await refused(registration.RegisterResident(register(number, region="340800")))
    assert (again.code, again.reason) == (grpc.StatusCode.ALREADY_EXISTS, "ALREADY_ENROLLED")


async def test_concurrent_registrations_of_one_person_create_one_enrollment(
    system: System, registration: RegistrationClient
) -> None:
    number = unique_resident_id()
    outcomes = await asyncio.gather(
        *(registration.RegisterResident(register(number)) for _ in range(20)), return_exceptions=True
    )
    succeeded = [o for o in outcomes if isinstance(o, reg.RegisterResidentResponse)]
    failed = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(succeeded) == 1 and len(failed) == 19
    assert {f.code() for f in failed} == {grpc.StatusCode.ALREADY_EXISTS}
    assert (
        await system.value("insurance", "SELECT count(*) FROM enrollments WHERE resident_id_number = $1", number) == 1
    )


async def test_manual_review_nothing_is_payable_before_approval(
    registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient, system: System
) -> None:
    number = unique_resident_id()
    pending = (await registration.RegisterResident(register(number, name="孙九", region="341800"))).enrollment
    assert pending.state == common_pb2.ENROLLMENT_STATE_PENDING_REVIEW and not pending.years
    check = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="tax-341800",
            purpose=chk.CHECK_PURPOSE_TAX_COLLECTION,
            target=chk.CheckTarget(resident_id_number=number),
        )
    )
    assert check.result.status == chk.CHECK_STATUS_PENDING_REVIEW
    assert await registered_events(system, pending.enrollment_id) == 0
    error = await refused(payable(collection, number, "孙九"))
    assert error.code == grpc.StatusCode.NOT_FOUND  # the tax side has never heard of this person

    no_reason = await refused(
        registration.RejectRegistration(
            reg.RejectRegistrationRequest(
                request_id=new_request_id(), enrollment_id=pending.enrollment_id, officer_id="o1"
            )
        )
    )
    assert no_reason.fields == ["reason"]
    approved = await registration.ApproveRegistration(
        reg.ApproveRegistrationRequest(
            request_id=new_request_id(), enrollment_id=pending.enrollment_id, officer_id="o1"
        )
    )
    assert approved.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE
    assert await registered_events(system, pending.enrollment_id) == 1
    items = await eventually(lambda: _nonempty(payable(collection, number, "孙九")))
    assert [(i.insurance_year, i.amount_fen) for i in items] == [(2024, 38000)]


async def registered_events(system: System, enrollment_id: str) -> int:
    """enrollment.registered events written for this enrollment (decoded from the outbox)."""
    rows = await system.query("insurance", "SELECT envelope FROM outbox WHERE event_type = 'enrollment.registered'")
    envelopes = [events_pb2.EventEnvelope.FromString(r["envelope"]) for r in rows]
    return sum(1 for e in envelopes if e.enrollment_registered.enrollment_id == enrollment_id)


async def _nonempty(call: object) -> list[col.PayableItem]:
    items = await call  # type: ignore[misc]
    assert items
    return list(items)


async def test_a_rejected_registration_is_never_payable(registration: RegistrationClient, system: System) -> None:
    number = unique_resident_id()
    pending = (await registration.RegisterResident(register(number, region="341800"))).enrollment
    rejected = await registration.RejectRegistration(
        reg.RejectRegistrationRequest(
            request_id=new_request_id(), enrollment_id=pending.enrollment_id, officer_id="o1", reason="户口簿照片不清晰"
        )
    )
    assert rejected.enrollment.state == common_pb2.ENROLLMENT_STATE_REJECTED
    assert rejected.enrollment.rejection_reason == "户口簿照片不清晰"
    twice = await refused(
        registration.ApproveRegistration(
            reg.ApproveRegistrationRequest(
                request_id=new_request_id(), enrollment_id=pending.enrollment_id, officer_id="o1"
            )
        )
    )
    assert twice.reason == "NOT_PENDING_REVIEW"
    # After a rejection the person may apply again.
    assert (await registration.RegisterResident(register(number, region="341800"))).enrollment.enrollment_id


async def test_scenario_1_newborn_owes_this_year_from_birth_and_next_year(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    """Born 15 Nov 2023, registered 20 Nov 2023 in Anqing: 350 for 2023 and 380 for 2024."""
    number = resident_id(D(2023, 11, 15), "340802")
    reply = await registration.RegisterResident(
        register(number, name="小宝", category=common_pb2.CATEGORY_NEWBORN, evidence=[BIRTH_CERTIFICATE])
    )
    years = {y.insurance_year: y for y in reply.enrollment.years}
    assert sorted(years) == [2023, 2024] and years[2023].newborn_current_year
    assert (years[2023].coverage_period.start.month, years[2023].coverage_period.start.day) == (11, 15)
    items = await eventually(lambda: _nonempty(payable(collection, number, "小宝")))
    assert [(i.insurance_year, i.amount_fen) for i in items] == [(2023, 35000), (2024, 38000)]
    first, second = items
    assert (first.payable_until.year, first.payable_until.month, first.payable_until.day) == (2024, 2, 13)
    assert first.newborn_current_year and not second.newborn_current_year


async def test_stopping_cancels_unpaid_items_on_the_tax_side(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    number = unique_resident_id()
    enrollment = (await registration.RegisterResident(register(number, name="吴十"))).enrollment
    await eventually(lambda: _nonempty(payable(collection, number, "吴十")))
    stopped = await registration.StopEnrollment(
        reg.StopEnrollmentRequest(
            request_id=new_request_id(), enrollment_id=enrollment.enrollment_id, reason=reg.STOP_REASON_MOVED_AWAY
        )
    )
    assert stopped.enrollment.state == common_pb2.ENROLLMENT_STATE_STOPPED
    assert [y.status for y in stopped.enrollment.years] == [reg.ENROLLMENT_YEAR_STATUS_CANCELLED]

    async def cancelled() -> None:
        items = await payable(collection, number, "吴十", settled=True)
        assert [i.status for i in items] == [col.PAYABLE_ITEM_STATUS_CANCELLED]

    await eventually(cancelled)
    assert await payable(collection, number, "吴十") == []


async def test_a_changed_policy_is_a_new_version_and_earlier_assessments_keep_theirs(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    code = "349902"
    await create_region(registration, code, "版本测试市", policy(code, 2024, 30000, (D(2023, 9, 1), D(2023, 12, 31))))
    first = unique_resident_id()
    await registration.RegisterResident(register(first, name="甲", region=code))
    changed = await registration.SetRegionPolicy(
        reg.SetRegionPolicyRequest(
            request_id=new_request_id(), policy=policy(code, 2024, 32000, (D(2023, 9, 1), D(2023, 12, 31)))
        )
    )
    assert changed.policy.version == 2
    same = await registration.SetRegionPolicy(
        reg.SetRegionPolicyRequest(
            request_id=new_request_id(), policy=policy(code, 2024, 32000, (D(2023, 9, 1), D(2023, 12, 31)))
        )
    )
    assert same.policy.version == 2  # no change, no new version
    old = await registration.GetRegionPolicy(
        reg.GetRegionPolicyRequest(region_code=code, insurance_year=2024, version=1)
    )
    assert old.policy.individual_standard_fen == 30000
    second = unique_resident_id()
    await registration.RegisterResident(register(second, name="乙", region=code))
    assert [i.amount_fen for i in await eventually(lambda: _nonempty(payable(collection, first, "甲")))] == [30000]
    assert [i.amount_fen for i in await eventually(lambda: _nonempty(payable(collection, second, "乙")))] == [32000]


async def test_bad_registrations_name_the_field(registration: RegistrationClient) -> None:
    number = unique_resident_id()
    missing = await refused(
        registration.RegisterResident(register(number, category=common_pb2.CATEGORY_HARDSHIP_LOW_INCOME))
    )
    assert (missing.code, missing.reason, missing.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "EVIDENCE_MISSING",
        ["evidence"],
    )
    assert "最低生活保障金领取证" in missing.localized
    phone = await refused(registration.RegisterResident(register(number, phone="12345")))
    assert (phone.reason, phone.fields) == ("INVALID_PHONE", ["phone"])
    region = await refused(registration.RegisterResident(register(number, region="999999")))
    assert (region.code, region.reason) == (grpc.StatusCode.NOT_FOUND, "REGION_NOT_FOUND")
    no_request_id = register(number)
    no_request_id.request_id = ""
    assert (await refused(registration.RegisterResident(no_request_id))).fields == ["request_id"]


async def test_a_minor_turning_18_is_aged_out_and_listed(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number = resident_id(D(2005, 11, 25), "340802")
    minor = (
        await registration.RegisterResident(register(number, name="少年", category=common_pb2.CATEGORY_MINOR))
    ).enrollment
    await eventually(lambda: _nonempty(payable(collection, number, "少年")))
    system.set_clock(dt.datetime(2023, 11, 25, 0, 0, 1, tzinfo=CST))

    async def aged_out() -> None:
        listed = await registration.ListAgedOutEnrollments(
            reg.ListAgedOutEnrollmentsRequest(region_code="340800", insurance_year=2023, page_size=1000)
        )
        assert minor.enrollment_id in [e.enrollment_id for e in listed.enrollments]

    await eventually(aged_out)
    got = (await registration.GetEnrollment(reg.GetEnrollmentRequest(enrollment_id=minor.enrollment_id))).enrollment
    assert (got.state, got.stop_reason) == (common_pb2.ENROLLMENT_STATE_AGED_OUT, reg.STOP_REASON_AGED_OUT)

    async def cancelled() -> None:
        items = await payable(collection, number, "少年", settled=True)
        assert [i.status for i in items] == [col.PAYABLE_ITEM_STATUS_CANCELLED]

    await eventually(cancelled)
    check = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="hospital-1",
            purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
            target=chk.CheckTarget(resident_id_number=number, insurance_year=2024),
        )
    )
    assert check.result.status == chk.CHECK_STATUS_AGED_OUT
    # Re-enrolling under a new category is allowed.
    again = await registration.RegisterResident(
        register(number, name="少年", category=common_pb2.CATEGORY_NON_EMPLOYED)
    )
    assert again.enrollment.state == common_pb2.ENROLLMENT_STATE_ACTIVE


async def test_lists_page_through_everything_once_and_refuse_a_token_for_other_filters(
    registration: RegistrationClient,
) -> None:
    code = "349903"
    await create_region(registration, code, "分页测试市", policy(code, 2024, 30000, (D(2023, 9, 1), D(2023, 12, 31))))
    created = {
        (await registration.RegisterResident(register(unique_resident_id(), region=code))).enrollment.enrollment_id
        for _ in range(5)
    }
    seen: list[str] = []
    token = ""
    while True:
        page = await registration.ListEnrollments(
            reg.ListEnrollmentsRequest(region_code=code, page_size=2, page_token=token)
        )
        seen.extend(e.enrollment_id for e in page.enrollments)
        token = page.next_page_token
        if not token:
            break
        last_token = token
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    other_filter = await refused(
        registration.ListEnrollments(
            reg.ListEnrollmentsRequest(region_code="340800", page_size=2, page_token=last_token)
        )
    )
    assert (other_filter.code, other_filter.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "PAGE_TOKEN_FILTER_CHANGED")
