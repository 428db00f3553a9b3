"""R15: the enrollment check answers by ID (and year), one or up to 1,000 at once, per purpose, audited."""

from __future__ import annotations

import uuid

import grpc
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk

from tests.e2e.clients import EnrollmentClient, RegistrationClient
from tests.e2e.requests import register
from tests.e2e.system import System
from tests.factories import unique_resident_id
from tests.support import refused


def target(number: str, year: int = 0) -> chk.CheckTarget:
    return chk.CheckTarget(resident_id_number=number, insurance_year=year)


async def test_one_check_answers_region_scheme_category_and_status(
    registration: RegistrationClient, enrollment: EnrollmentClient
) -> None:
    number = unique_resident_id()
    await registration.RegisterResident(register(number))
    reply = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="officer-1", purpose=chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION, target=target(number, 2024)
        )
    )
    result = reply.result
    assert (result.enrolled, result.status, result.region_code, result.region_name) == (
        True,
        chk.CHECK_STATUS_REGISTERED_UNPAID,
        "340800",
        "安庆市",
    )
    assert (result.scheme, result.category) == (common_pb2.SCHEME_RESIDENT, common_pb2.CATEGORY_NON_EMPLOYED)
    assert reply.as_of_time.seconds > 0
    never = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="officer-1", purpose=chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION, target=target(number, 2021)
        )
    )
    assert never.result.status == chk.CHECK_STATUS_NOT_ENROLLED and not never.result.enrolled


async def test_a_hospital_does_not_learn_the_category(
    registration: RegistrationClient, enrollment: EnrollmentClient
) -> None:
    number = unique_resident_id()
    await registration.RegisterResident(register(number))
    reply = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="hospital-9", purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT, target=target(number)
        )
    )
    assert reply.result.enrolled and reply.result.category == common_pb2.CATEGORY_UNSPECIFIED


async def test_a_batch_answers_each_target_in_order_with_errors_per_item(
    system: System, registration: RegistrationClient, enrollment: EnrollmentClient
) -> None:
    known = unique_resident_id()
    await registration.RegisterResident(register(known))
    full_width = known.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    targets = (
        [target(unique_resident_id()) for _ in range(994)]
        + [
            target(known),
            target("12345"),
            target(known[:-1] + "Y"),
            target(full_width),  # what an input method types in full-width mode: this target's error (R41)
            target(f"{known[:6]} {known[6:]}"),  # a space inside: this target's error, not the batch's (R41)
            target(known[:10] + "\x00" + known[11:]),
        ]
    )
    reply = await enrollment.BatchCheckEnrollments(
        chk.BatchCheckEnrollmentsRequest(
            caller_id="tax-batch", purpose=chk.CHECK_PURPOSE_TAX_COLLECTION, targets=targets
        )
    )
    assert len(reply.results) == 1000
    sent = [t.resident_id_number for t in targets]
    assert [r.resident_id_number for r in reply.results] == sent
    assert all(r.status == chk.CHECK_STATUS_NOT_ENROLLED for r in reply.results[:994])
    assert reply.results[994].status == chk.CHECK_STATUS_REGISTERED_UNPAID
    refused = [(i, r.error.reason, r.error.field) for i, r in enumerate(reply.results) if r.error.reason]
    assert refused == [
        (995, "INVALID_RESIDENT_ID", "targets[995].resident_id_number"),
        (996, "INVALID_RESIDENT_ID", "targets[996].resident_id_number"),
        (997, "INVALID_RESIDENT_ID", "targets[997].resident_id_number"),
        (998, "INVALID_RESIDENT_ID", "targets[998].resident_id_number"),
        (999, "INVALID_RESIDENT_ID", "targets[999].resident_id_number"),
    ]
    assert reply.results[997].error.metadata["full_width"] == "true"

    # Recorded before the answer (issue 17), naming the caller's identity and its caller_id as a note.
    count = await system.value(
        "insurance",
        "SELECT count(*) FROM enrollment_check_audit WHERE caller = 'local:development' AND caller_note = 'tax-batch' "
        "AND purpose = 'TAX_COLLECTION' AND $1 = ANY(resident_id_numbers)",
        known,
    )
    assert count == 1


async def test_more_than_a_thousand_targets_or_no_purpose_is_refused(enrollment: EnrollmentClient) -> None:
    too_many = await refused(
        enrollment.BatchCheckEnrollments(
            chk.BatchCheckEnrollmentsRequest(
                caller_id="x", purpose=chk.CHECK_PURPOSE_TAX_COLLECTION, targets=[target(unique_resident_id())] * 1001
            )
        )
    )
    assert (too_many.code, too_many.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE")
    no_purpose = await refused(
        enrollment.CheckEnrollment(chk.CheckEnrollmentRequest(caller_id="x", target=target(unique_resident_id())))
    )
    assert (no_purpose.reason, no_purpose.fields) == ("FIELD_REQUIRED", ["purpose"])


async def test_every_answered_check_is_on_record_even_when_the_service_is_killed_right_after(
    system: System, enrollment: EnrollmentClient
) -> None:
    """Issue 17 (R35): the audit used to be written in batches 0.2 s after the answer, so a kill -9 lost the
    lookups of that window although they had been answered. Each is now committed before it is answered:
    every check answered before the kill is on record after it."""
    note = f"before-kill-{uuid.uuid4().hex[:12]}"
    answered = 0
    for _ in range(50):
        await enrollment.CheckEnrollment(
            chk.CheckEnrollmentRequest(
                caller_id=note, purpose=chk.CHECK_PURPOSE_TAX_COLLECTION, target=target(unique_resident_id())
            )
        )
        answered += 1
    system.kill("enrollment")
    try:
        recorded = await system.value(
            "insurance", "SELECT count(*) FROM enrollment_check_audit WHERE caller_note = $1", note
        )
    finally:
        system.start("enrollment")
        await system.wait_serving("enrollment")
    assert recorded == answered == 50
