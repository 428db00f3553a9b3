"""R48 end to end: a resident looks themselves up (参保查询) and obtains a payment certificate (缴费证明) for
chosen years, which anyone with its number verifies; each audited or on the person's trail (R35)."""

from __future__ import annotations

import datetime as dt

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg
from medins.trail.v1 import person_trail_service_pb2 as trail
from medins.trail.v1 import person_trail_service_pb2_grpc as trail_grpc

from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.requests import new_request_id, register
from tests.e2e.system import System
from tests.e2e.test_medins_cli import ok
from tests.e2e.test_payments import BIRTH_CERTIFICATE, items_of, order_for
from tests.e2e.test_records_and_refunds import pay
from tests.factories import resident_id, unique_resident_id
from tests.support import eventually, refused

D = dt.date
HOUSEHOLD = reg.Evidence(kind=reg.EVIDENCE_KIND_HOUSEHOLD_REGISTER, document_ref="hk-c")
EXTREME_POVERTY = reg.Evidence(kind=reg.EVIDENCE_KIND_EXTREME_POVERTY_CERTIFICATE, document_ref="tk-c")


async def issue(collection: CollectionClient, number: str, *years: int) -> col.PaymentCertificate:
    reply = await collection.IssuePaymentCertificate(
        col.IssuePaymentCertificateRequest(
            request_id=new_request_id(), resident_id_number=number, insurance_years=list(years)
        )
    )
    return reply.certificate


async def test_a_certificate_lists_every_paid_year_with_its_amount_and_receipt_and_anyone_can_verify_it(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    """R48, Xuancheng: "使用“城乡居民(税务系统)缴费”进入税务部门的“社保缴费”小程序进行缴费的,请按税务部门查询参保信息并
    开具缴费证明。" A newborn's two years paid in one order, certified with the year before (not paid)."""
    newborn = resident_id(D(2023, 11, 12), "340802")
    await registration.RegisterResident(
        register(newborn, name="小证", category=common_pb2.CATEGORY_NEWBORN, evidence=[BIRTH_CERTIFICATE])
    )
    paid = await pay(collection, await order_for(collection, newborn, await items_of(collection, newborn, "小证")))

    certificate = await issue(collection, newborn, 2024, 2022, 2023)
    assert certificate.certificate_number.startswith("JFZM20231120")
    assert (certificate.resident_id_number, certificate.resident_name) == (newborn, "小证")
    assert list(certificate.requested_years) == [2022, 2023, 2024]
    assert [(y.insurance_year, y.amount_fen, list(y.receipt_numbers)) for y in certificate.years] == [
        (2023, 35000, [paid.receipt_number]),
        (2024, 38000, [paid.receipt_number]),
    ]
    assert list(certificate.unpaid_years) == [2022] and certificate.total_fen == 73000
    assert certificate.issued_by, "the authenticated caller that issued it"

    verified = await collection.VerifyPaymentCertificate(
        col.VerifyPaymentCertificateRequest(certificate_number=certificate.certificate_number)
    )
    assert verified.certificate == certificate
    trail = await system.query(
        "tax",
        """SELECT method FROM person_trail WHERE resident_id_number = $1 AND method LIKE '%PaymentCertificate'
           ORDER BY id""",
        newborn,
    )
    assert [r[0] for r in trail] == ["IssuePaymentCertificate", "VerifyPaymentCertificate"]

    unknown = await refused(
        collection.VerifyPaymentCertificate(col.VerifyPaymentCertificateRequest(certificate_number="JFZM20231120NONE"))
    )
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "CERTIFICATE_NOT_FOUND")
    nothing = await refused(issue(collection, newborn, 2022))
    assert (nothing.code, nothing.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NOTHING_PAID")
    future = await refused(issue(collection, newborn, 2030))
    assert (future.code, future.reason, future.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_YEAR",
        ["insurance_years"],
    )


async def test_a_year_settled_in_full_by_the_subsidy_is_certified_without_a_receipt(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    """R48 with R17: an extreme-poverty resident of a demo region pays nothing; the certificate still
    certifies the year, settled by the subsidy."""
    number = resident_id(D(1960, 4, 4), "320402")
    await registration.RegisterResident(
        register(
            number,
            name="特困证",
            region="320400",
            category=common_pb2.CATEGORY_HARDSHIP_EXTREME_POVERTY,
            evidence=[HOUSEHOLD, EXTREME_POVERTY],
        )
    )

    async def settled() -> col.PayableItem:
        reply = await collection.ListPayableItems(
            col.ListPayableItemsRequest(
                payer_id_number=number, insured_id_number=number, insured_name="特困证", include_settled=True
            )
        )
        (item,) = reply.payable_items
        assert item.status == col.PAYABLE_ITEM_STATUS_SETTLED_BY_SUBSIDY
        return item

    item = await eventually(settled)
    certificate = await issue(collection, number, item.insurance_year)
    (year,) = certificate.years
    assert (year.insurance_year, year.amount_fen, list(year.receipt_numbers)) == (item.insurance_year, 0, [])
    assert [(f.settled_by_subsidy, f.receipt_number) for f in year.fees] == [(True, "")]


async def test_a_resident_sees_their_own_status_and_covered_periods(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R48, Xuancheng: "使用“城乡居民(个人共济账户)缴费”缴费成功后,在“参保缴费”栏目里,点击“城乡居民参保查询”,即可
    查询已经参保缴费的“缴费记录”". A newborn paid for both years sees this year covered from the birth date
    and the next in full; someone never registered sees NOT_ENROLLED; the look-up is audited, and on the
    person's trail (R35) by the time it is answered: who asked, 参保查询 (GetMyEnrollment) and the years."""
    newborn = resident_id(D(2023, 11, 13), "340802")
    await registration.RegisterResident(
        register(newborn, name="小查", category=common_pb2.CATEGORY_NEWBORN, evidence=[BIRTH_CERTIFICATE])
    )
    await pay(collection, await order_for(collection, newborn, await items_of(collection, newborn, "小查")))

    async def both_covered() -> chk.GetMyEnrollmentResponse:
        reply = await enrollment.GetMyEnrollment(chk.GetMyEnrollmentRequest(resident_id_number=newborn))
        assert [(r.insurance_year, r.status) for r in reply.results] == [
            (2023, chk.CHECK_STATUS_COVERED),
            (2024, chk.CHECK_STATUS_COVERED),
        ]
        return reply

    mine = await eventually(both_covered)
    this_year, next_year = mine.results
    assert [(p.start.month, p.start.day, p.end.month, p.end.day) for p in this_year.covered_periods] == [
        (11, 13, 12, 31)
    ]
    assert (this_year.category, this_year.region_code) == (common_pb2.CATEGORY_NEWBORN, "340800")
    assert [(p.start.month, p.end.month) for p in next_year.covered_periods] == [(1, 12)]

    stranger_number = unique_resident_id()
    stranger = await enrollment.GetMyEnrollment(
        chk.GetMyEnrollmentRequest(resident_id_number=stranger_number, insurance_years=[2023])
    )
    assert [r.status for r in stranger.results] == [chk.CHECK_STATUS_NOT_ENROLLED]
    # On the trail as soon as answered (no waiting): the record is committed before the answer.
    trails = trail_grpc.PersonTrailServiceStub(system.channel("registration"))
    theirs = await trails.ListPersonTrail(trail.ListPersonTrailRequest(resident_id_number=stranger_number))
    (entry,) = theirs.entries
    assert (entry.method, entry.request_id, entry.caller_note) == ("GetMyEnrollment", "years=2023", "")
    assert entry.caller == "local:development", "the authenticated identity (plaintext: the development one)"
    assert entry.correlation_id and entry.HasField("record_time")
    looked_up = [
        (e.caller, e.method, e.request_id)
        for e in (await trails.ListPersonTrail(trail.ListPersonTrailRequest(resident_id_number=newborn))).entries
        if e.method == "GetMyEnrollment"
    ]
    assert looked_up and set(looked_up) == {("local:development", "GetMyEnrollment", "years=2023,2024")}
    shown = await ok(system, "trail", newborn, "--agency", "insurance")
    assert any("GetMyEnrollment" in line and "years=2023,2024" in line for line in shown.splitlines()), shown

    async def audited() -> None:
        rows = await system.query(
            "insurance",
            """SELECT caller FROM enrollment_check_audit
               WHERE purpose = 'RESIDENT_SELF' AND $1 = ANY(resident_id_numbers)""",
            newborn,
        )
        assert rows and all(r[0] for r in rows), "the look-up is audited under the caller's identity"

    await eventually(audited)
    too_many = await refused(
        enrollment.GetMyEnrollment(
            chk.GetMyEnrollmentRequest(resident_id_number=newborn, insurance_years=list(range(2015, 2026)))
        )
    )
    assert (too_many.code, too_many.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["insurance_years"])
