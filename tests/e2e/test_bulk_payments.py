"""NotifyPayments (issue 12, R20-R22): many notifications in one call, each answered on its own, each
channel transaction applied exactly once, one bad notification never failing the others."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
from medins.collection.v1 import collection_service_pb2 as col

from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import new_request_id
from tests.e2e.system import System
from tests.e2e.test_payments import covered, order_for, registered_person


def batch(*notifications: col.NotifyPaymentRequest) -> col.NotifyPaymentsRequest:
    return col.NotifyPaymentsRequest(request_id=new_request_id(), notifications=notifications)


async def test_a_batch_answers_each_notification_alone_and_refusals_do_not_fail_the_others(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    people = [await registered_person(registration, collection, name=f"批量{n}") for n in range(3)]
    orders = [await order_for(collection, number, items) for number, items in people]
    first = channels.wechat(orders[0].order_id, orders[0].total_fen, START, transaction_id="4200B0001")
    paid = channels.notification(Channel.WECHAT, first)
    resent = channels.notification(Channel.WECHAT, first)  # the channel sent it again (signed again), a new id
    forged = channels.forged(
        channels.notification(Channel.WECHAT, channels.wechat(orders[1].order_id, orders[1].total_fen, START))
    )
    short = channels.notification(Channel.BANK_APP, channels.bank(orders[1].order_id, orders[1].total_fen - 1, START))
    out_of_rules = channels.notification(Channel.WECHAT, channels.wechat(orders[2].order_id, 1, START))
    out_of_rules.request_id = "not an id!"  # breaks the field's character rule, checked per notification
    nowhere = new_request_id()
    unknown = channels.notification(Channel.ALIPAY, channels.alipay(nowhere, 100, START))
    second = channels.notification(
        Channel.BANK_APP, channels.bank(orders[2].order_id, orders[2].total_fen, START, transaction_id="B0002")
    )

    sent = batch(paid, resent, forged, short, out_of_rules, unknown, second)
    reply = await collection.NotifyPayments(sent)

    assert [r.request_id for r in reply.results] == [n.request_id for n in sent.notifications]
    kinds = [r.WhichOneof("result") for r in reply.results]
    assert kinds == ["response", "response", "refusal", "refusal", "refusal", "refusal", "response"]
    applied, replayed, *refusals, other = reply.results
    assert applied.response.outcome == col.NOTIFICATION_OUTCOME_APPLIED and applied.response.receipt_number
    assert replayed.response == applied.response
    assert [(r.refusal.code, r.refusal.reason, r.refusal.field) for r in refusals] == [
        (grpc.StatusCode.UNAUTHENTICATED.value[0], "SIGNATURE_INVALID", "signature"),
        (grpc.StatusCode.FAILED_PRECONDITION.value[0], "AMOUNT_MISMATCH", ""),
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "INVALID_CHARACTERS", "request_id"),
        (grpc.StatusCode.NOT_FOUND.value[0], "ORDER_NOT_FOUND", ""),
    ]
    assert other.response.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    for number, _ in (people[0], people[2]):
        await covered(enrollment, number, 2024)

    recorded = await system.query(
        "tax",
        """SELECT outcome, count(*) FROM channel_notifications
           WHERE order_id = ANY($1::text[]) OR payload_sha256 = ANY($2::bytea[]) GROUP BY outcome""",
        [*(o.order_id for o in orders), nowhere],
        [hashlib.sha256(n.payload).digest() for n in (forged, out_of_rules)],
    )
    counts = {r["outcome"]: r["count"] for r in recorded}
    assert counts == {
        "APPLIED": 2,
        "DUPLICATE_REPLAYED": 1,
        "SIGNATURE_INVALID": 1,
        "AMOUNT_MISMATCH": 1,
        "MALFORMED": 1,
        "UNKNOWN_ORDER": 1,
    }
    pending = await collection.GetOrder(col.GetOrderRequest(payer_id_number=people[1][0], order_id=orders[1].order_id))
    assert pending.order.status == col.ORDER_STATUS_PENDING


async def test_a_batch_sent_again_and_the_same_notification_alone_at_once_pay_exactly_once(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    people = [await registered_person(registration, collection, name=f"重发{n}") for n in range(4)]
    orders = [await order_for(collection, number, items) for number, items in people]
    notifications = [
        channels.notification(
            Channel.BANK_APP, channels.bank(o.order_id, o.total_fen, START, transaction_id=f"RB{n:06d}")
        )
        for n, o in enumerate(orders)
    ]
    sent = batch(*notifications)
    together = await asyncio.gather(
        collection.NotifyPayments(sent),
        *(collection.NotifyPayment(n) for n in notifications),
        collection.NotifyPayments(sent),
        collection.NotifyPayments(batch(*reversed(notifications))),
    )
    batches = [r for r in together if isinstance(r, col.NotifyPaymentsResponse)]
    singles = [r for r in together if isinstance(r, col.NotifyPaymentResponse)]
    assert (len(batches), len(singles)) == (3, 4)
    first = {r.request_id: r.response for r in batches[0].results}
    for reply in batches[1:]:
        assert all(r.WhichOneof("result") == "response" for r in reply.results)
        assert {r.request_id: r.response for r in reply.results} == first
    assert [s.payment_id for s in singles] == [first[n.request_id].payment_id for n in notifications]

    rows = await system.query(
        "tax",
        """SELECT count(*) AS payments, count(DISTINCT r.receipt_number) AS receipts
           FROM payments p JOIN receipts r USING (payment_id) WHERE p.order_id = ANY($1::uuid[])""",
        [o.order_id for o in orders],
    )
    assert (rows[0]["payments"], rows[0]["receipts"]) == (4, 4)
    for number, _ in people:
        await covered(enrollment, number, 2024)
