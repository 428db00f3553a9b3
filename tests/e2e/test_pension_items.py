"""Issue 19: the resident pension insurance (城乡居民基本养老保险, the second of the "两险" the seeds pay
together). Its registration belongs to the social-security agency, a third producer of events; this
system registers no pension. An assessment of that fee type, when that agency sends one, goes through
orders, payments, receipts and records as a medical one does, and insurance grants nothing for it."""

from __future__ import annotations

import datetime as dt
import uuid

import aio_pika
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.events.v1 import events_pb2

from services.collection.domain.model import Channel
from services.common.messaging import envelope as event_types
from services.common.messaging.topology import EVENTS_EXCHANGE
from services.common.proto_values import date_to_proto, range_to_proto
from tests.e2e import channels
from tests.e2e.clients import CollectionClient
from tests.e2e.conftest import START
from tests.e2e.system import System
from tests.e2e.test_payments import items_of, order_for
from tests.factories import unique_resident_id
from tests.support import eventually

D = dt.date
PENSION_FEN = 20000


def _pension_event(number: str, name: str) -> events_pb2.EventEnvelope:
    basis = events_pb2.AssessmentBasis(
        insurance_year=2024,
        fee_type=common_pb2.FEE_TYPE_RESIDENT_PENSION,
        standard_fen=PENSION_FEN,
        subsidy_fen=0,
        policy_version=1,
        collection_window=range_to_proto(D(2023, 9, 1), D(2023, 12, 31)),
        coverage_period=range_to_proto(D(2024, 1, 1), D(2024, 12, 31)),
    )
    basis.payable_until.CopyFrom(date_to_proto(D(2023, 12, 31)))
    registered = events_pb2.EnrollmentRegistered(
        enrollment_id=str(uuid.uuid4()),
        enrollment_sequence=1,
        person=events_pb2.InsuredPerson(resident_id_number=number, name=name, birth_date=date_to_proto(D(1980, 1, 1))),
        region_code="340800",
        category=common_pb2.CATEGORY_NON_EMPLOYED,
        assessments=[basis],
    )
    return event_types.new_envelope(
        event_types.ENROLLMENT_REGISTERED,
        registered,
        producer="social-security",
        correlation_id=uuid.uuid4().hex,
        occurred_at=START,
    )


async def test_a_pension_item_is_ordered_paid_receipted_and_recorded_like_a_medical_one(
    system: System, collection: CollectionClient
) -> None:
    """Seed 002 (Yili), of the tax side's payment app: “(目前支持缴纳医疗险和养老险)”; seed 001 (Xuancheng):
    “进入“城乡居民两险缴费”服务后,点击“选择人员””. An item of the pension fee type, sent by the
    social-security agency, is ordered, paid, receipted and recorded as a medical one is."""
    number, name = unique_resident_id(), "养老"
    sent = _pension_event(number, name)
    connection = await aio_pika.connect_robust(system.stack.settings().amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        message = aio_pika.Message(sent.SerializeToString(), message_id=sent.event_id)
        await exchange.publish(message, routing_key=sent.event_type)
    (item,) = await items_of(collection, number, name)
    assert (item.fee_type, item.amount_fen) == (common_pb2.FEE_TYPE_RESIDENT_PENSION, PENSION_FEN)

    order = await order_for(collection, number, [item])
    paid = await collection.NotifyPayment(
        channels.notification(Channel.ALIPAY, channels.alipay(order.order_id, order.total_fen, START))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED and paid.receipt_number
    receipt = (
        await collection.GetReceipt(col.GetReceiptRequest(payer_id_number=number, order_id=order.order_id))
    ).receipt
    assert [(line.fee_type, line.amount_fen) for line in receipt.lines] == [
        (common_pb2.FEE_TYPE_RESIDENT_PENSION, PENSION_FEN)
    ]

    async def recorded() -> None:
        found = await collection.ListPaymentRecords(
            col.ListPaymentRecordsRequest(
                payer_id_number=number,
                scope=col.RECORD_SCOPE_MINE,
                fee_period=col.FeePeriod(start_year=2024, end_year=2024),
            )
        )
        records = [r for g in found.groups for r in g.records]
        assert [(r.fee_type, r.amount_fen, r.receipt_number) for r in records] == [
            (common_pb2.FEE_TYPE_RESIDENT_PENSION, PENSION_FEN, paid.receipt_number)
        ]

    await eventually(recorded)
    # Insurance grants nothing for a pension item and refuses nothing: no coverage record names it.
    grants = await system.value(
        "insurance", "SELECT count(*) FROM coverage_grants WHERE payment_id = $1", paid.payment_id
    )
    refusals = await system.value(
        "insurance", "SELECT count(*) FROM coverage_refusals WHERE payment_id = $1", paid.payment_id
    )
    assert (grants, refusals) == (0, 0)
