"""R43: no payment is lost when its notification is. Orders paid at a simulated channel whose callbacks
never arrive are applied by the payment query worker exactly as a notification would be; callbacks that
arrive 25 hours later have no second effect; an order expiring while the payer pays is closed at the
channel or applied, never both, never lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from asyncpg import Record

from ops import audit_checks
from ops.audit import read_snapshot
from ops.channel_sim.ledger import Faults, PayRefused, Trade
from services.collection import payment_intake
from services.collection.channels import wechat_pay_v3
from services.collection.domain.model import PaymentOutcome
from services.collection.handlers.orders import create_order
from services.collection.order_expiry import expire_due_orders
from services.collection.payment_query import QueryConfig, Tally, query_due_orders
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool
from tests.channel_api_fixtures import Wired, wired
from tests.infra import Stack
from tests.integration.test_deduction_runs import NOW, unpaid_person
from tests.unit.channel_fixtures import wechat_keys

TTL = dt.timedelta(seconds=60)
CONFIG = QueryConfig(near=dt.timedelta(seconds=30), lookback=dt.timedelta(hours=48))
# 1,000 as the issue asks with MEDINS_LOST_CALLBACK_ORDERS=1000 (`make chaos` runs it); `make test` keeps to 100.
ORDERS = int(os.environ.get("MEDINS_LOST_CALLBACK_ORDERS", "100"))
DEADLINE_SECONDS = 120.0


def pairs(rows: list[Record]) -> dict[str, str]:
    return {row[0]: row[1] for row in rows}


async def new_orders(pool: Pool, clock: FixedClock, count: int) -> list[tuple[str, int]]:
    made = []
    for _ in range(count):
        number, item = await unpaid_person(pool)
        async with CollectionUnitOfWork(pool) as uow:
            order = await create_order(number, [item], uow, clock, TTL)
            await uow.commit()
        made.append((order.order_id, int(order.total_fen)))
    return made


async def query_until(pool: Pool, clock: FixedClock, w: Wired, done: int) -> Tally:
    """Passes of the worker until `done` payments are recorded (or the deadline passes)."""
    total = Tally()
    deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        tally = await query_due_orders(lambda: CollectionUnitOfWork(pool), clock, [w.api], CONFIG, 500)
        total.applied += tally.applied
        total.refunds += tally.refunds
        if await pool.fetchval("SELECT count(*) FROM payments") >= done:
            return total
        clock.advance(dt.timedelta(seconds=15))  # the next asks fall due
    raise AssertionError(f"not all {done} payments applied within {DEADLINE_SECONDS} s")


async def tax_audit(stack: Stack) -> list[str]:
    """`medins audit`'s checks of the tax side's money (the coverage grants need the insurance consumers,
    which the end-to-end suite runs)."""
    snapshot = await read_snapshot(stack.settings())
    results = [
        audit_checks.check_money_per_channel_day(snapshot),
        audit_checks.check_refunds_reversed(snapshot),
    ]
    return [v for r in results for v in r.violations]


async def test_orders_paid_with_every_callback_dropped_are_all_applied_by_query(tax_pool: Pool, stack: Stack) -> None:
    clock = FixedClock(NOW)
    orders = await new_orders(tax_pool, clock, ORDERS)
    async with wired("wechat", clock, faults=Faults(drop=1.0)) as w:
        for order_id, amount in orders:
            await w.server.pay(order_id, amount)
        await w.server.idle()
        assert w.server.stats.sent == 0 and w.server.stats.dropped == ORDERS
        clock.advance(dt.timedelta(seconds=40))  # every order within 30 s of its expiry
        tally = await query_until(tax_pool, clock, w, ORDERS)
    assert tally.applied == ORDERS and tally.refunds == 0
    outcomes = await tax_pool.fetch("SELECT outcome, count(*) FROM payments GROUP BY outcome")
    assert {r["outcome"]: r["count"] for r in outcomes} == {PaymentOutcome.APPLIED.value: ORDERS}
    assert await tax_pool.fetchval("SELECT count(*) FROM refunds") == 0
    assert await tax_pool.fetchval("SELECT count(*) FROM receipts") == ORDERS
    sources = await tax_pool.fetchval(
        "SELECT count(*) FROM channel_order_answers WHERE outcome = $1 AND payment_id IS NOT NULL", "APPLIED"
    )
    assert sources == ORDERS
    assert await tax_audit(stack) == []


@pytest.fixture
async def receiver(tax_pool: Pool) -> AsyncIterator[tuple[str, list[str], FixedClock]]:
    """Our WeChat Pay callback endpoint's pipeline in small: verify the channel's signature, take the
    payment in as the intake does, answer 2xx. Returns its URL, the outcomes, and the clock it judges by."""
    clock = FixedClock(NOW)
    outcomes: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        body = await request.read()
        payment = wechat_pay_v3.verify_notification(wechat_keys(), dict(request.headers), body, clock.now())
        async with CollectionUnitOfWork(tax_pool) as uow:
            result = await payment_intake.settle_payment(uow, payment, clock, CONFIG.skew)
            await uow.commit()
        outcomes.append(f"{result.outcome}:{result.payment_id}")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/wechat", callback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/wechat", outcomes, clock
    await runner.cleanup()


async def test_callbacks_delivered_25_hours_late_have_no_second_effect(
    tax_pool: Pool, stack: Stack, receiver: tuple[str, list[str], FixedClock]
) -> None:
    url, outcomes, clock = receiver
    orders = await new_orders(tax_pool, clock, 20)
    async with wired("wechat", clock, url, faults=Faults(hold=True)) as w:
        for order_id, amount in orders:
            await w.server.pay(order_id, amount)
        clock.advance(dt.timedelta(seconds=40))
        await query_until(tax_pool, clock, w, len(orders))
        applied = pairs(await tax_pool.fetch("SELECT order_id::text, payment_id::text FROM payments"))
        clock.advance(dt.timedelta(hours=25))
        w.server.release_held()
        await w.server.idle()
    assert len(w.server.stats.delivered) == len(orders)
    assert sorted(outcomes) == sorted(f"{PaymentOutcome.APPLIED}:{p}" for p in applied.values())  # the same ones
    assert await tax_pool.fetchval("SELECT count(*) FROM payments") == len(orders)
    assert await tax_pool.fetchval("SELECT count(*) FROM refunds") == 0
    assert await tax_pool.fetchval("SELECT count(*) FROM receipts") == len(orders)
    assert await tax_audit(stack) == []


async def test_an_order_expiring_while_paid_at_the_channel_is_closed_or_applied_never_both(
    tax_pool: Pool, stack: Stack
) -> None:
    clock = FixedClock(NOW)
    orders = await new_orders(tax_pool, clock, 30)
    async with wired("wechat", clock) as w:
        w.server.faults = Faults(drop=1.0)
        paid_first = orders[:10]
        for order_id, amount in paid_first:  # the payer is quicker than the close
            await w.server.pay(order_id, amount)
        clock.advance(TTL + dt.timedelta(seconds=1))
        await expire_due_orders(lambda: CollectionUnitOfWork(tax_pool), clock, 500)

        async def payer(order_id: str, amount: int, after_closes: int = 0) -> str:
            """Pays once the channel has closed `after_closes` orders: the payer and the close race."""
            deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
            while sum(t.state is Trade.CLOSED for t in w.server.ledger.trades.values()) < after_closes:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.001)
            try:
                await w.server.pay(order_id, amount)
            except PayRefused:
                return "refused"
            return "paid"

        racing = [payer(o, a, k) for k, (o, a) in enumerate(orders[10:20])]
        worker = query_due_orders(lambda: CollectionUnitOfWork(tax_pool), clock, [w.api], CONFIG, 500)
        raced = (await asyncio.gather(worker, *racing))[1:]
        late = [await payer(o, a) for o, a in orders[20:]]  # after the close: the channel refuses
        clock.advance(dt.timedelta(minutes=15))
        await query_due_orders(lambda: CollectionUnitOfWork(tax_pool), clock, [w.api], CONFIG, 500)
        trades = {o: w.server.ledger.trades[o].state for o, _ in orders}
    assert late == ["refused"] * 10
    assert "paid" in raced  # (and, as the closes go, some refused: either way never both)
    payments = pairs(await tax_pool.fetch("SELECT order_id::text, outcome FROM payments"))
    for order_id, _ in orders:
        if trades[order_id] is Trade.SUCCESS:
            assert payments.get(order_id) == PaymentOutcome.APPLIED.value, order_id  # paid: applied, never lost
        else:
            assert trades[order_id] is Trade.CLOSED and order_id not in payments, order_id  # closed: nothing
    assert all(trades[o] is Trade.SUCCESS for o, _ in paid_first)
    assert await tax_pool.fetchval("SELECT count(*) FROM refunds") == 0
    assert await tax_audit(stack) == []
