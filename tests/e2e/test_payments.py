"""Tax side end to end: orders, channel payments exactly once, receipts, coverage, refunds."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.domain.model import Channel
from services.common.clock import CST
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import HOUSEHOLD, new_request_id, register
from tests.e2e.system import System
from tests.factories import resident_id, unique_resident_id
from tests.support import eventually, refused

D = dt.date
BIRTH_CERTIFICATE = reg.Evidence(kind=reg.EVIDENCE_KIND_BIRTH_CERTIFICATE, document_ref="doc-birth")


async def items_of(collection: CollectionClient, number: str, name: str) -> list[col.PayableItem]:
    async def assessed() -> list[col.PayableItem]:
        reply = await collection.ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name=name)
        )
        assert reply.payable_items
        return list(reply.payable_items)

    return await eventually(assessed)


async def registered_person(
    registration: RegistrationClient, collection: CollectionClient, *, name: str = "郑一", **kwargs: object
) -> tuple[str, list[col.PayableItem]]:
    number = str(kwargs.pop("number", None) or unique_resident_id())
    await registration.RegisterResident(register(number, name=name, **kwargs))  # type: ignore[arg-type]
    return number, await items_of(collection, number, name)


async def order_for(collection: CollectionClient, payer: str, items: list[col.PayableItem]) -> col.Order:
    reply = await collection.CreateOrder(
        col.CreateOrderRequest(
            request_id=new_request_id(), payer_id_number=payer, payable_item_ids=[i.payable_item_id for i in items]
        )
    )
    return reply.order


async def check(enrollment: EnrollmentClient, number: str, year: int) -> chk.EnrollmentCheckResult:
    reply = await enrollment.CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id="hospital-1",
            purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
            target=chk.CheckTarget(resident_id_number=number, insurance_year=year),
        )
    )
    return reply.result


async def covered(enrollment: EnrollmentClient, number: str, year: int) -> chk.EnrollmentCheckResult:
    async def is_covered() -> chk.EnrollmentCheckResult:
        result = await check(enrollment, number, year)
        assert result.status == chk.CHECK_STATUS_COVERED
        return result

    return await eventually(is_covered)


async def test_scenario_1_a_newborn_pays_both_years_in_one_order_and_is_covered_from_birth(
    registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number = resident_id(D(2023, 11, 15), "340802")
    await registration.RegisterResident(
        register(number, name="小安", category=common_pb2.CATEGORY_NEWBORN, evidence=[BIRTH_CERTIFICATE])
    )
    items = await items_of(collection, number, "小安")
    parent = unique_resident_id()
    order = await order_for(collection, parent, items)
    assert order.total_fen == 35000 + 38000
    assert [(line.insurance_year, line.amount_fen) for line in order.lines] == [(2023, 35000), (2024, 38000)]

    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED and paid.receipt_number

    this_year = await covered(enrollment, number, 2023)
    assert [(p.start.month, p.start.day, p.end.month, p.end.day) for p in this_year.covered_periods] == [
        (11, 15, 12, 31)
    ]
    next_year = await covered(enrollment, number, 2024)
    assert [(p.start.month, p.start.day, p.end.month, p.end.day) for p in next_year.covered_periods] == [(1, 1, 12, 31)]

    receipt = (
        await collection.GetReceipt(col.GetReceiptRequest(payer_id_number=parent, order_id=order.order_id))
    ).receipt
    assert receipt.receipt_number == paid.receipt_number and receipt.payer_id_number == parent
    assert [(line.insured_id_number, line.insurance_year, line.amount_fen) for line in receipt.lines] == [
        (number, 2023, 35000),
        (number, 2024, 38000),
    ]
    assert receipt.total_fen == 73000


async def test_scenario_2_the_last_second_of_the_window_counts_and_the_next_is_refunded(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    on_time, on_time_items = await registered_person(registration, collection, name="守时")
    late, late_items = await registered_person(registration, collection, name="迟到")
    system.set_clock(dt.datetime(2023, 12, 31, 23, 59, 0, tzinfo=CST))
    first = await order_for(collection, on_time, on_time_items)
    second = await order_for(collection, late, late_items)
    system.set_clock(dt.datetime(2024, 1, 1, 0, 0, 30, tzinfo=CST))

    last_second = dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST)
    accepted = await collection.NotifyPayment(
        channels.notification(Channel.ALIPAY, channels.alipay(first.order_id, 38000, last_second))
    )
    assert accepted.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    await covered(enrollment, on_time, 2024)

    new_year = dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=CST)
    refunded = await collection.NotifyPayment(
        channels.notification(Channel.ALIPAY, channels.alipay(second.order_id, 38000, new_year))
    )
    assert refunded.outcome == col.NOTIFICATION_OUTCOME_REFUND_RAISED and not refunded.receipt_number
    refund = (await collection.GetRefund(col.GetRefundRequest(refund_id=refunded.refund_id))).refund
    assert (refund.reason, refund.amount_fen) == (col.REFUND_REASON_OUTSIDE_WINDOW, 38000)
    assert (await check(enrollment, late, 2024)).status == chk.CHECK_STATUS_REGISTERED_UNPAID


async def test_scenario_4_an_unpaid_order_expires_after_61_seconds_and_late_money_is_handled(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number, items = await registered_person(registration, collection, name="拖延")
    first = await order_for(collection, number, items)
    held = await refused(order_for(collection, number, items))
    assert held.reason == "ITEM_IN_PENDING_ORDER"

    system.set_clock(START + dt.timedelta(seconds=61))

    async def expired() -> None:
        got = await collection.GetOrder(col.GetOrderRequest(payer_id_number=number, order_id=first.order_id))
        assert got.order.status == col.ORDER_STATUS_EXPIRED

    await eventually(expired)
    second = await order_for(collection, number, items)  # the items are free again
    assert second.status == col.ORDER_STATUS_PENDING

    system.set_clock(START + dt.timedelta(seconds=100))
    # Money for the expired order still arrives (paid at 70 s): the items are unpaid, so it is accepted.
    late = await collection.NotifyPayment(
        channels.notification(Channel.BANK_APP, channels.bank(first.order_id, 38000, START + dt.timedelta(seconds=70)))
    )
    assert late.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    await covered(enrollment, number, 2024)
    # Then the re-made order is paid too: those items are paid already, so that money is refunded.
    double = await collection.NotifyPayment(
        channels.notification(Channel.BANK_APP, channels.bank(second.order_id, 38000, START + dt.timedelta(seconds=80)))
    )
    assert double.outcome == col.NOTIFICATION_OUTCOME_REFUND_RAISED
    refund = (await collection.GetRefund(col.GetRefundRequest(refund_id=double.refund_id))).refund
    assert refund.reason == col.REFUND_REASON_DOUBLE_PAYMENT


async def test_scenario_5_one_notification_twenty_times_at_once_has_exactly_one_effect(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    number, items = await registered_person(registration, collection, name="并发")
    order = await order_for(collection, number, items)
    payload = channels.wechat(order.order_id, order.total_fen, START, transaction_id="4200000000202311200001")
    replies = await asyncio.gather(
        *(collection.NotifyPayment(channels.notification(Channel.WECHAT, payload)) for _ in range(20))
    )
    assert len({r.SerializeToString() for r in replies}) == 1  # everyone got the original answer
    (reply,) = {r.payment_id: r for r in replies}.values()
    await covered(enrollment, number, 2024)

    tax = await system.query(
        "tax",
        """SELECT (SELECT count(*) FROM payments WHERE order_id = $1::uuid),
                  (SELECT count(*) FROM receipts r JOIN payments p USING (payment_id) WHERE p.order_id = $1::uuid),
                  (SELECT count(*) FROM outbox WHERE event_type = 'payment.confirmed'
                       AND position(convert_to($2, 'UTF8') IN envelope) > 0),
                  (SELECT count(*) FROM channel_notifications WHERE order_id = $3),
                  (SELECT count(*) FROM channel_notifications WHERE order_id = $3 AND outcome = 'APPLIED')""",
        order.order_id,
        reply.payment_id,
        order.order_id,
    )
    assert tuple(tax[0]) == (1, 1, 1, 20, 1)

    async def granted_once() -> None:
        rows = await system.query(
            "insurance",
            """SELECT y.paid_by_payment_id, y.status FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
               WHERE e.resident_id_number = $1""",
            number,
        )
        assert [tuple(r) for r in rows] == [(reply.payment_id, "COVERED")]

    await eventually(granted_once)


async def test_a_reused_transaction_id_for_another_order_is_a_conflict_and_changes_nothing(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    a, a_items = await registered_person(registration, collection, name="甲方")
    b, b_items = await registered_person(registration, collection, name="乙方")
    first, second = await order_for(collection, a, a_items), await order_for(collection, b, b_items)
    txn = "4200000000202311209999"
    await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(first.order_id, 38000, START, transaction_id=txn))
    )
    conflict = await refused(
        collection.NotifyPayment(
            channels.notification(Channel.WECHAT, channels.wechat(second.order_id, 38000, START, transaction_id=txn))
        )
    )
    assert (conflict.code, conflict.reason) == (grpc.StatusCode.ABORTED, "CHANNEL_TRANSACTION_CONFLICT")
    unchanged = await collection.GetOrder(col.GetOrderRequest(payer_id_number=b, order_id=second.order_id))
    assert unchanged.order.status == col.ORDER_STATUS_PENDING
    recorded = await system.value(
        "tax", "SELECT outcome FROM channel_notifications WHERE order_id = $1", second.order_id
    )
    assert recorded == "CONFLICT"


async def test_an_amount_that_differs_from_the_order_is_refused_and_recorded(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    number, items = await registered_person(registration, collection, name="差额")
    order = await order_for(collection, number, items)
    mismatch = await refused(
        collection.NotifyPayment(channels.notification(Channel.WECHAT, channels.wechat(order.order_id, 37999, START)))
    )
    assert (mismatch.code, mismatch.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "AMOUNT_MISMATCH")
    assert mismatch.metadata["order_total_fen"] == "38000" and mismatch.metadata["notified_amount_fen"] == "37999"
    rows = await system.query(
        "tax", "SELECT outcome, amount_fen, detail FROM channel_notifications WHERE order_id = $1", order.order_id
    )
    assert [(r["outcome"], r["amount_fen"]) for r in rows] == [("AMOUNT_MISMATCH", 37999)]
    still = await collection.GetOrder(col.GetOrderRequest(payer_id_number=number, order_id=order.order_id))
    assert still.order.status == col.ORDER_STATUS_PENDING


async def test_a_receipt_exists_only_once_paid(registration: RegistrationClient, collection: CollectionClient) -> None:
    number, items = await registered_person(registration, collection, name="凭证")
    order = await order_for(collection, number, items)
    early = await refused(collection.GetReceipt(col.GetReceiptRequest(payer_id_number=number, order_id=order.order_id)))
    assert (early.code, early.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RECEIPT_NOT_AVAILABLE")


async def test_in_changzhou_wechat_takes_payments_from_1_november_and_the_social_security_card_before(
    system: System, registration: RegistrationClient, collection: CollectionClient
) -> None:
    """R49, Changzhou (seed 000): “11月1日起,‘非从业居民、老年居民、未成年居民’也可通过银行柜台、微信、支付宝、
    POS机刷卡…等渠道缴费”: on 20 Oct 2023, in the 2024 window, a WeChat payment is refunded (CHANNEL_NOT_OPEN)
    and a social security card payment applies; from 1 Nov WeChat applies."""
    system.set_clock(dt.datetime(2023, 10, 20, 10, tzinfo=CST))
    documents = [HOUSEHOLD, reg.Evidence(kind=reg.EVIDENCE_KIND_EMPLOYMENT_REGISTRATION_CARD, document_ref="jy-49")]
    early, early_items = await registered_person(
        registration,
        collection,
        name="早微信",
        region="320400",
        evidence=documents,
        number=resident_id(D(1981, 2, 2), "320402"),
    )
    card, card_items = await registered_person(
        registration,
        collection,
        name="社保卡",
        region="320400",
        evidence=documents,
        number=resident_id(D(1982, 3, 3), "320402"),
    )
    before = dt.datetime(2023, 10, 20, 10, tzinfo=CST)
    (item,) = early_items  # the payer's app sees which channels open later, before ordering
    wechat = [o.opens_on for o in item.channel_openings if o.channel == common_pb2.PAYMENT_CHANNEL_WECHAT]
    assert [(d.year, d.month, d.day) for d in wechat] == [(2023, 11, 1)]
    order = await order_for(collection, early, early_items)
    refunded = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, before))
    )
    assert refunded.outcome == col.NOTIFICATION_OUTCOME_REFUND_RAISED
    reason = await system.value("tax", "SELECT reason FROM refunds WHERE refund_id = $1::uuid", refunded.refund_id)
    assert reason == "CHANNEL_NOT_OPEN"
    by_card = await order_for(collection, card, card_items)
    applied = await collection.NotifyPayment(
        channels.notification(Channel.SOCIAL_SECURITY_CARD, channels.bank(by_card.order_id, by_card.total_fen, before))
    )
    assert applied.outcome == col.NOTIFICATION_OUTCOME_APPLIED

    november = dt.datetime(2023, 11, 1, 9, tzinfo=CST)
    system.set_clock(november)
    again = await order_for(collection, early, await items_of(collection, early, "早微信"))
    on_time = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(again.order_id, again.total_fen, november))
    )
    assert on_time.outcome == col.NOTIFICATION_OUTCOME_APPLIED
