"""R23 through the channels' refund APIs (issue 21 item 5): refunds claimed, sent to the simulator's
refund API and recorded (claim-call-record), their results read back by refund query; a refund the
channel refuses is kept visible for operators (FAILED with the channel's reason, `refunds list --stuck`)."""

from __future__ import annotations

import datetime as dt

from ops.channel_sim.ledger import Faults
from services.collection.domain.model import RefundStatus
from services.collection.gateways.channel_refunds import ChannelRefundGateway
from services.collection.handlers.refund_results import STUCK, settle_submitted_refunds
from services.collection.handlers.refunds import request_refund, submit_due_refunds
from services.collection.refund_targets_repository import refund_request
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool
from tests.channel_api_fixtures import wired
from tests.infra import Stack
from tests.integration.test_deduction_runs import NOW
from tests.integration.test_payment_query import new_orders, pairs, query_until, tax_audit


async def test_refunds_go_through_the_channel_and_a_refused_one_is_listed_as_stuck(
    tax_pool: Pool, stack: Stack
) -> None:
    clock = FixedClock(NOW)
    orders = await new_orders(tax_pool, clock, 4)

    def uow() -> CollectionUnitOfWork:
        return CollectionUnitOfWork(tax_pool)

    async with wired("wechat", clock, faults=Faults(drop=1.0)) as w:
        for order_id, amount in orders:
            await w.server.pay(order_id, amount)
        clock.advance(dt.timedelta(seconds=40))
        await query_until(tax_pool, clock, w, len(orders))
        payments = pairs(await tax_pool.fetch("SELECT order_id::text, payment_id::text FROM payments"))
        refused_order = orders[0][0]
        w.server.ledger.refuse_refunds.add(refused_order)
        for order_id, _ in orders:
            async with uow() as u:
                await request_refund(payments[order_id], "officer-1", "on request", u, clock)
                await u.commit()
        gateway = ChannelRefundGateway([w.api], lambda refund: refund_request(tax_pool, refund))
        assert await submit_due_refunds(uow, clock, 100, gateway) == len(orders)
        assert await settle_submitted_refunds(uow, clock, 100, gateway) == len(orders) - 1
        refunded = {o: len(w.server.ledger.trades[o].refunds) for o, _ in orders}
    assert refunded == {o: 0 if o == refused_order else 1 for o, _ in orders}
    states = pairs(await tax_pool.fetch("SELECT payment_id::text, status FROM refunds"))
    assert states[payments[refused_order]] == RefundStatus.FAILED.value
    assert sorted(v for k, v in states.items() if k != payments[refused_order]) == [RefundStatus.SUCCEEDED.value] * 3
    async with uow() as u:
        stuck = [r for status in STUCK for r in await u.refunds.list_refunds(status, None, 100)]
    assert [r.payment_id for r in stuck] == [payments[refused_order]]
    assert "NOT_ENOUGH" in (stuck[0].failure_reason or "")
    reversed_ = await tax_pool.fetchval("SELECT count(*) FROM payments WHERE reversed_at IS NOT NULL")
    assert reversed_ == 3
    assert await tax_audit(stack) == []
