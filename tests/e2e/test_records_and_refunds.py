"""Tax side end to end: records and minors (R25, R26), school payment (R28), refunds (R23), family account."""

from __future__ import annotations

import datetime as dt

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.domain.model import Channel
from services.common.proto_values import range_to_proto
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import new_request_id, register
from tests.e2e.system import System
from tests.e2e.test_payments import BIRTH_CERTIFICATE, check, covered, items_of, order_for, registered_person
from tests.factories import resident_id, unique_resident_id
from tests.support import eventually, refused

D = dt.date


async def pay(
    collection: CollectionClient, order: col.Order, channel: Channel = Channel.WECHAT
) -> col.NotifyPaymentResponse:
    payload = {
        Channel.WECHAT: channels.wechat,
        Channel.ALIPAY: channels.alipay,
        Channel.BANK_COUNTER: channels.bank,
    }[channel](order.order_id, order.total_fen, START)
    return await collection.NotifyPayment(channels.notification(channel, payload))


async def test_scenario_7_three_years_of_records_and_a_fifth_or_too_old_minor_are_refused(
    collection: CollectionClient,
) -> None:
    payer = unique_resident_id()
    three_years = await refused(
        collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(
                payer_id_number=payer,
                scope=col.RECORD_SCOPE_MINE,
                period=range_to_proto(D(2021, 1, 1), D(2023, 12, 31)),
            )
        )
    )
    assert (three_years.code, three_years.reason, three_years.localized) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "PERIOD_TOO_LONG",
        "查询范围不能超过两年",
    )
    exactly_two = await collection.ListPaymentRecords(
        col.ListPaymentRecordsRequest(
            payer_id_number=payer, scope=col.RECORD_SCOPE_MINE, period=range_to_proto(D(2021, 11, 20), D(2023, 11, 20))
        )
    )
    assert not exactly_two.groups

    sixteen = resident_id(D(2007, 11, 20), "340802")  # 16 on START's date
    too_old = await refused(
        collection.LinkMinor(
            col.LinkMinorRequest(
                request_id=new_request_id(), payer_id_number=payer, minor_id_number=sixteen, minor_name="大孩"
            )
        )
    )
    assert (too_old.code, too_old.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MINOR_TOO_OLD")
    for i in range(4):
        await collection.LinkMinor(
            col.LinkMinorRequest(
                request_id=new_request_id(),
                payer_id_number=payer,
                minor_id_number=resident_id(D(2010 + i, 1, 1), "340802"),
                minor_name=f"孩子{i}",
            )
        )
    fifth = await refused(
        collection.LinkMinor(
            col.LinkMinorRequest(
                request_id=new_request_id(),
                payer_id_number=payer,
                minor_id_number=resident_id(D(2015, 1, 1), "340802"),
                minor_name="第五个",
            )
        )
    )
    assert (fifth.reason, fifth.localized) == ("MINOR_LIMIT_REACHED", "每个账号只支持查询四位未成年人缴费信息")
    listed = await collection.ListLinkedMinors(col.ListLinkedMinorsRequest(payer_id_number=payer))
    assert len(listed.minors) == 4


async def test_records_are_chosen_by_the_benefit_year_the_fee_belongs_to_at_most_two_years(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    """R47, Yili: "如需查询历史年份的缴费信息,点击查询按钮,修改费款所属期进行查询。查询范围不能超过两年。"
    A newborn's two years, paid in one order on one day, are told apart by the year they belong to."""
    newborn = resident_id(D(2023, 11, 15), "340802")
    await registration.RegisterResident(
        register(newborn, name="小期", category=common_pb2.CATEGORY_NEWBORN, evidence=[BIRTH_CERTIFICATE])
    )
    parent = unique_resident_id()
    await pay(collection, await order_for(collection, parent, await items_of(collection, newborn, "小期")))

    async def years(
        fee_period: col.FeePeriod | None = None, period: common_pb2.DateRange | None = None
    ) -> list[tuple[int, int]]:
        reply = await collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(
                payer_id_number=parent, scope=col.RECORD_SCOPE_FOR_OTHERS, fee_period=fee_period, period=period
            )
        )
        return [(r.insurance_year, r.amount_fen) for g in reply.groups for r in g.records]

    assert sorted(await years()) == [(2023, 35000), (2024, 38000)]
    assert await years(col.FeePeriod(start_year=2023, end_year=2023)) == [(2023, 35000)]
    assert await years(col.FeePeriod(start_year=2024, end_year=2025)) == [(2024, 38000)]
    assert await years(col.FeePeriod(start_year=2021, end_year=2022)) == []
    # The payment date cannot tell them apart; callers that still choose by it get both.
    assert len(await years(period=range_to_proto(START.date(), START.date()))) == 2

    three = await refused(years(col.FeePeriod(start_year=2022, end_year=2024)))
    assert (three.code, three.reason, three.localized, three.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "PERIOD_TOO_LONG",
        "查询范围不能超过两年",
        ["fee_period.end_year"],
    )
    assert three.metadata["latest_end_year"] == "2023"
    backwards = await refused(years(col.FeePeriod(start_year=2024, end_year=2023)))
    assert (backwards.code, backwards.reason, backwards.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PERIOD",
        ["fee_period.end_year"],
    )
    both = await refused(
        years(col.FeePeriod(start_year=2023, end_year=2024), period=range_to_proto(START.date(), START.date()))
    )
    assert (both.reason, both.fields) == ("PERIOD_AMBIGUOUS", ["fee_period"])


async def test_records_show_mine_and_what_i_paid_for_others_grouped_by_person(
    registration: RegistrationClient, collection: CollectionClient
) -> None:
    parent, parent_items = await registered_person(registration, collection, name="家长")
    child = resident_id(D(2015, 6, 1), "340802")
    _, child_items = await registered_person(
        registration, collection, name="孩子", number=child, category=common_pb2.CATEGORY_MINOR
    )
    other = resident_id(D(2016, 6, 1), "340802")
    _, other_items = await registered_person(
        registration, collection, name="侄子", number=other, category=common_pb2.CATEGORY_MINOR
    )
    await pay(collection, await order_for(collection, parent, parent_items))
    await pay(collection, await order_for(collection, parent, child_items + other_items))

    mine = await collection.ListPaymentRecords(
        col.ListPaymentRecordsRequest(payer_id_number=parent, scope=col.RECORD_SCOPE_MINE)
    )
    assert [(g.insured_id_number, len(g.records)) for g in mine.groups] == [(parent, 1)]
    # By default the benefit year in progress and the next, the one paid for in this window (R47).
    assert (mine.fee_period.start_year, mine.fee_period.end_year) == (2023, 2024)
    assert not mine.HasField("period")
    others = await collection.ListPaymentRecords(
        col.ListPaymentRecordsRequest(payer_id_number=parent, scope=col.RECORD_SCOPE_FOR_OTHERS)
    )
    assert sorted((g.insured_name, len(g.records)) for g in others.groups) == [("侄子", 1), ("孩子", 1)]
    paged: list[str] = []
    token = ""
    while True:
        page = await collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(
                payer_id_number=parent, scope=col.RECORD_SCOPE_FOR_OTHERS, page_size=1, page_token=token
            )
        )
        paged.extend(r.insured_id_number for g in page.groups for r in g.records)
        token = page.next_page_token
        if not token:
            break
    assert sorted(paged) == sorted([child, other])

    not_linked = await refused(
        collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(
                payer_id_number=parent, scope=col.RECORD_SCOPE_LINKED_MINOR, minor_id_number=child
            )
        )
    )
    assert not_linked.reason == "MINOR_NOT_LINKED"
    await collection.LinkMinor(
        col.LinkMinorRequest(
            request_id=new_request_id(), payer_id_number=parent, minor_id_number=child, minor_name="孩子"
        )
    )
    minor = await collection.ListPaymentRecords(
        col.ListPaymentRecordsRequest(
            payer_id_number=parent, scope=col.RECORD_SCOPE_LINKED_MINOR, minor_id_number=child
        )
    )
    assert [(g.insured_id_number, g.records[0].amount_fen) for g in minor.groups] == [(child, 38000)]


async def test_a_school_pays_for_200_students_in_one_settlement(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    school = "AQ-S201"
    await registration.CreateSchool(
        reg.CreateSchoolRequest(
            request_id=new_request_id(), school=reg.School(school_code=school, name="安庆二中", region_code="340800")
        )
    )
    students = [(resident_id(D(2005, 1, 1) + dt.timedelta(days=i), "340803"), f"学子{i}") for i in range(200)]
    rows = [
        reg.RegistrationRow(
            row_number=i + 1,
            resident_id_number=n,
            name=name,
            phone="13600136000",
            school_code=school,
            category=common_pb2.CATEGORY_COLLEGE_STUDENT,
        )
        for i, (n, name) in enumerate(students)
    ]
    await registration.BatchRegisterResidents(
        reg.BatchRegisterResidentsRequest(
            request_id=new_request_id(), batch_id="aq-s201", submitter_code=school, rows=rows
        )
    )

    async def all_assessed() -> None:
        count = await system.value(
            "tax",
            "SELECT count(*) FROM payable_items WHERE resident_id_number = ANY($1::text[])",
            [n for n, _ in students],
        )
        assert count == 200

    await eventually(all_assessed, timeout=60)
    officer = unique_resident_id()
    listed = [col.StudentRef(resident_id_number=n, name=name) for n, name in students]
    listed[7] = col.StudentRef(resident_id_number=students[7][0], name="错名字")
    # Typed in full-width digits: that student's result, saying to type half-width (R41).
    listed[3].resident_id_number = students[3][0].translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
    listed.append(col.StudentRef(resident_id_number=students[0][0], name=students[0][1]))  # listed twice
    # Fields breaking their rules: each that student's result, never the order's (R41).
    listed.append(col.StudentRef(resident_id_number=f"{students[1][0][:6]} {students[1][0][6:]}", name="空格"))
    listed.append(col.StudentRef(resident_id_number=unique_resident_id(), name="控制\x07字符"))
    reply = await collection.CreateSchoolCollectiveOrder(
        col.CreateSchoolCollectiveOrderRequest(
            request_id=new_request_id(),
            payer_id_number=officer,
            school_code=school,
            insurance_year=2024,
            students=listed,
        )
    )
    included = [s for s in reply.students if s.included]
    assert len(included) == 198 and reply.order.total_fen == 198 * 38000
    assert {s.error.reason for s in reply.students if not s.included} == {
        "INSURED_PERSON_NOT_MATCHED",
        "DUPLICATE_STUDENT",
        "INVALID_RESIDENT_ID",
        "CONTROL_CHARACTER",
    }
    assert not reply.students[3].included
    assert (reply.students[3].error.reason, reply.students[3].error.metadata["full_width"]) == (
        "INVALID_RESIDENT_ID",
        "true",
    )
    assert reply.order.kind == col.ORDER_KIND_SCHOOL_COLLECTIVE and reply.order.school_code == school

    paid = await pay(collection, reply.order, Channel.BANK_COUNTER)
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED

    async def all_covered() -> None:
        statuses = await enrollment.BatchCheckEnrollments(
            chk.BatchCheckEnrollmentsRequest(
                caller_id="school-check",
                purpose=chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION,
                targets=[chk.CheckTarget(resident_id_number=n, insurance_year=2024) for n, _ in students],
            )
        )
        counts = [r.status for r in statuses.results]
        assert counts.count(chk.CHECK_STATUS_COVERED) == 198
        assert statuses.results[3].status == statuses.results[7].status == chk.CHECK_STATUS_REGISTERED_UNPAID

    await eventually(all_covered, timeout=60)
    again = await collection.CreateSchoolCollectiveOrder(
        col.CreateSchoolCollectiveOrderRequest(
            request_id=new_request_id(),
            payer_id_number=officer,
            school_code=school,
            insurance_year=2024,
            students=listed[:10],
        )
    )
    assert not again.HasField("order")  # nothing twice: all ten are paid (or the mismatch, or full-width)
    assert {s.error.reason for s in again.students} == {
        "NO_PAYABLE_ITEM",
        "INSURED_PERSON_NOT_MATCHED",
        "INVALID_RESIDENT_ID",
    }


async def test_a_refund_on_request_reverses_the_receipt_and_withdraws_coverage(
    registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number, items = await registered_person(registration, collection, name="退费")
    order = await order_for(collection, number, items)
    paid = await pay(collection, order)
    await covered(enrollment, number, 2024)
    refund = (
        await collection.RequestRefund(
            col.RequestRefundRequest(
                request_id=new_request_id(), payment_id=paid.payment_id, requested_by="officer-7", note="参加职工医保"
            )
        )
    ).refund
    assert refund.status == col.REFUND_STATUS_PENDING and refund.reason == col.REFUND_REASON_REQUESTED

    async def submitted() -> col.Refund:
        got = (await collection.GetRefund(col.GetRefundRequest(refund_id=refund.refund_id))).refund
        assert got.status == col.REFUND_STATUS_SUBMITTED and got.channel_refund_id
        return got

    sent = await eventually(submitted)
    result = col.NotifyRefundResultRequest(
        request_id=new_request_id(),
        refund_id=refund.refund_id,
        channel_refund_id=sent.channel_refund_id,
        succeeded=True,
    )
    done = (await collection.NotifyRefundResult(result)).refund
    assert done.status == col.REFUND_STATUS_SUCCEEDED
    repeated = await collection.NotifyRefundResult(result)  # the channel tells us twice: same answer
    assert repeated.refund.status == col.REFUND_STATUS_SUCCEEDED

    async def withdrawn() -> None:
        assert (await check(enrollment, number, 2024)).status == chk.CHECK_STATUS_REGISTERED_UNPAID

    await eventually(withdrawn)
    receipt = (
        await collection.GetReceipt(col.GetReceiptRequest(payer_id_number=number, order_id=order.order_id))
    ).receipt
    assert receipt.reversed
    again = await refused(
        collection.RequestRefund(
            col.RequestRefundRequest(request_id=new_request_id(), payment_id=paid.payment_id, requested_by="officer-7")
        )
    )
    assert again.reason == "PAYMENT_NOT_REFUNDABLE"


async def test_a_refund_the_channel_keeps_refusing_ends_in_manual_handling(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    number, items = await registered_person(registration, collection, name="人工")
    paid = await pay(collection, await order_for(collection, number, items))
    refund_id = (
        await collection.RequestRefund(
            col.RequestRefundRequest(request_id=new_request_id(), payment_id=paid.payment_id, requested_by="officer-8")
        )
    ).refund.refund_id
    for attempt in range(5):

        async def submitted() -> col.Refund:
            got = (await collection.GetRefund(col.GetRefundRequest(refund_id=refund_id))).refund
            assert got.status == col.REFUND_STATUS_SUBMITTED
            return got

        await eventually(submitted)
        failed = await collection.NotifyRefundResult(
            col.NotifyRefundResultRequest(
                request_id=new_request_id(), refund_id=refund_id, succeeded=False, failure_reason="账户已注销"
            )
        )
        if attempt < 4:
            assert failed.refund.status == col.REFUND_STATUS_FAILED
            system.set_clock(START + dt.timedelta(hours=3 * (attempt + 1)))  # past the back-off
    assert failed.refund.status == col.REFUND_STATUS_MANUAL_HANDLING
    resolved = await collection.ResolveRefund(
        col.ResolveRefundRequest(
            request_id=new_request_id(),
            refund_id=refund_id,
            officer_id="officer-8",
            resolution=col.REFUND_RESOLUTION_MARK_SUCCEEDED,
            note="已线下退还现金",
        )
    )
    assert resolved.refund.status == col.REFUND_STATUS_SUCCEEDED


async def test_a_family_account_pays_only_what_it_holds(
    registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number, items = await registered_person(registration, collection, name="共济")
    holder = unique_resident_id()
    await collection.UpdateFamilyAccount(
        col.UpdateFamilyAccountRequest(request_id=new_request_id(), holder_id_number=holder, balance_fen=30000)
    )
    await bind_family_member(collection, holder, number, "共济")
    order = await order_for(collection, number, items)
    short = await refused(
        collection.NotifyPayment(
            channels.notification(Channel.FAMILY_MUTUAL_AID, channels.family(order.order_id, 38000, START, holder))
        )
    )
    assert (short.reason, short.localized) == ("FAMILY_BALANCE_SHORT", "家庭共济账户余额不足,请选择其他缴费方式")
    await collection.UpdateFamilyAccount(
        col.UpdateFamilyAccountRequest(request_id=new_request_id(), holder_id_number=holder, balance_fen=50000)
    )
    paid = await collection.NotifyPayment(
        channels.notification(Channel.FAMILY_MUTUAL_AID, channels.family(order.order_id, 38000, START, holder))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    account = await collection.GetFamilyAccount(col.GetFamilyAccountRequest(holder_id_number=holder))
    assert account.account.balance_fen == 12000
    await covered(enrollment, number, 2024)
    # Paying the same (now paid) order again from the account takes nothing.
    twice = await refused(
        collection.NotifyPayment(
            channels.notification(Channel.FAMILY_MUTUAL_AID, channels.family(order.order_id, 38000, START, holder))
        )
    )
    assert twice.reason == "ITEMS_NOT_PAYABLE"
    assert (
        await collection.GetFamilyAccount(col.GetFamilyAccountRequest(holder_id_number=holder))
    ).account.balance_fen == 12000


async def test_an_unpaid_order_can_be_started_again(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    number, items = await registered_person(registration, collection, name="重发")
    first = await order_for(collection, number, items)
    system.set_clock(START + dt.timedelta(seconds=30))  # the payer comes back half a minute later
    again = (
        await collection.ReinitiateOrder(
            col.ReinitiateOrderRequest(request_id=new_request_id(), payer_id_number=number, order_id=first.order_id)
        )
    ).order
    assert again.status == col.ORDER_STATUS_PENDING and again.reinitiated_from_order_id == first.order_id
    assert [line.payable_item_id for line in again.lines] == [line.payable_item_id for line in first.lines]
    old = await collection.GetOrder(col.GetOrderRequest(payer_id_number=number, order_id=first.order_id))
    assert old.order.status == col.ORDER_STATUS_EXPIRED
    listed = await collection.ListOrders(col.ListOrdersRequest(payer_id_number=number))
    assert [o.order_id for o in listed.orders] == [again.order_id, first.order_id]
    stranger = await refused(
        collection.GetOrder(col.GetOrderRequest(payer_id_number=unique_resident_id(), order_id=first.order_id))
    )
    assert stranger.code == grpc.StatusCode.NOT_FOUND


async def bind_family_member(
    collection: CollectionClient, holder: str, member: str, member_name: str, holder_name: str = "户主"
) -> col.FamilyMember:
    reply = await collection.BindFamilyMember(
        col.BindFamilyMemberRequest(
            request_id=new_request_id(),
            holder_id_number=holder,
            holder_name=holder_name,
            member_id_number=member,
            member_name=member_name,
            relationship=col.RELATIONSHIP_CHILD,
        )
    )
    return reply.member


async def test_a_family_account_pays_only_for_members_bound_to_it(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    """R46, Xuancheng: "您如果符合绑定“职工医保门诊共济家庭账户”成员的条件,请按前文规定先进行绑定,然后点击
    “城乡居民(个人共济账户)缴费”。" A payment for a person not bound to the account is refused before anything
    is taken; once bound, the same order is paid from it; once unbound, the account pays for them no more."""
    child, child_items = await registered_person(registration, collection, name="共济子")
    spouse, spouse_items = await registered_person(registration, collection, name="共济妻")
    holder = unique_resident_id()
    await collection.UpdateFamilyAccount(
        col.UpdateFamilyAccountRequest(request_id=new_request_id(), holder_id_number=holder, balance_fen=100000)
    )
    order = await order_for(collection, holder, child_items)

    async def pay_from_account(order: col.Order) -> col.NotifyPaymentResponse:
        payload = channels.family(order.order_id, order.total_fen, START, holder)
        return await collection.NotifyPayment(channels.notification(Channel.FAMILY_MUTUAL_AID, payload))

    unbound = await refused(pay_from_account(order))
    assert (unbound.code, unbound.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "FAMILY_MEMBER_NOT_BOUND")
    assert "请先绑定家庭共济关系" in unbound.localized
    assert child not in unbound.message, "the person is named masked"
    balance = await collection.GetFamilyAccount(col.GetFamilyAccountRequest(holder_id_number=holder))
    assert balance.account.balance_fen == 100000
    debits = "SELECT count(*) FROM family_account_entries WHERE holder_id_number = $1 AND kind = 'DEBIT'"
    assert await system.value("tax", debits, holder) == 0

    wrong_name = await refused(bind_family_member(collection, holder, child, "别人"))
    assert (wrong_name.code, wrong_name.reason) == (grpc.StatusCode.NOT_FOUND, "INSURED_PERSON_NOT_MATCHED")
    bound = await bind_family_member(collection, holder, child, "共济子")
    assert (bound.member_id_number, bound.holder_name, bound.relationship) == (child, "户主", col.RELATIONSHIP_CHILD)
    other_holder_name = await refused(bind_family_member(collection, holder, spouse, "共济妻", holder_name="别名"))
    assert other_holder_name.reason == "FAMILY_HOLDER_NOT_MATCHED"

    paid = await pay_from_account(order)
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    await covered(enrollment, child, 2024)
    balance = await collection.GetFamilyAccount(col.GetFamilyAccountRequest(holder_id_number=holder))
    assert balance.account.balance_fen == 100000 - 38000

    await bind_family_member(collection, holder, spouse, "共济妻")
    listed = await collection.ListFamilyMembers(col.ListFamilyMembersRequest(holder_id_number=holder))
    assert sorted(m.member_id_number for m in listed.members) == sorted([child, spouse])
    removed = await collection.UnbindFamilyMember(
        col.UnbindFamilyMemberRequest(
            request_id=new_request_id(), holder_id_number=holder, holder_name="户主", member_id_number=spouse
        )
    )
    assert removed.member.member_id_number == spouse
    after_unbinding = await refused(pay_from_account(await order_for(collection, holder, spouse_items)))
    assert after_unbinding.reason == "FAMILY_MEMBER_NOT_BOUND"
    trail = await system.value(
        "tax",
        "SELECT count(*) FROM person_trail WHERE resident_id_number = $1 AND method LIKE '%FamilyMember'",
        spouse,
    )
    assert trail == 2, "binding and unbinding are on the member's trail (R35)"
