"""Issue 12: a channel notification costs at most four round trips to the tax database (BEGIN, one read,
one write, COMMIT), applied or replayed, and a batch two per notification plus one BEGIN and COMMIT.
Counted on a connection that has run the path once: asyncpg prepares each statement and looks up its
types on first use, then keeps them in its statement cache."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import intake_convert, payment_intake
from services.collection.channels.keys import KeyStore
from services.collection.channels.verifiers import ChannelVerifiers
from services.collection.domain.model import Channel
from services.collection.handlers.orders import create_order
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool
from tests.e2e import channels
from tests.integration.test_deduction_runs import NOW, unpaid_person

SKEW = dt.timedelta(seconds=5)


class OneConnection:
    """Stands in for the pool so that every statement of the unit of work goes over one connection whose
    statements are counted."""

    def __init__(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        self.conn = conn

    async def acquire(self) -> asyncpg.pool.PoolConnectionProxy:
        return self.conn

    async def release(self, conn: object) -> None:
        pass


@pytest.fixture
async def counted(tax_pool: Pool) -> AsyncIterator[tuple[OneConnection, list[str]]]:
    statements: list[str] = []

    def count(logged: asyncpg.connection.LoggedQuery) -> None:
        statements.append(logged.query)

    async with tax_pool.acquire() as conn:
        conn.add_query_logger(count)
        yield OneConnection(conn), statements
        conn.remove_query_logger(count)


async def pending_order(tax_pool: Pool, clock: FixedClock) -> tuple[str, int]:
    number, item = await unpaid_person(tax_pool)
    async with CollectionUnitOfWork(tax_pool) as uow:
        order = await create_order(number, [item], uow, clock, dt.timedelta(hours=1))
        await uow.commit()
    return order.order_id, order.total_fen


async def notify(
    request: pb.NotifyPaymentRequest, uow: Callable[[], CollectionUnitOfWork], clock: FixedClock
) -> pb.NotifyPaymentResponse:
    """NotifyPayment's path below the servicer: the edge's conversion, the intake, the answer."""
    notification = intake_convert.notification(request)
    outcome = await payment_intake.take_in(notification, uow, clock, verifier(clock), SKEW)
    return intake_convert.response(outcome)


def verifier(clock: FixedClock) -> ChannelVerifiers:
    """The channels' real verification, with this test run's simulator keys (R42)."""
    return ChannelVerifiers(KeyStore.from_directory(channels.verify_dir()), clock)


def notification(order_id: str, amount: int, transaction_id: str, request_id: str) -> pb.NotifyPaymentRequest:
    """A WeChat Pay callback signed by the simulator at NOW (whatever clock an earlier end-to-end system
    left the simulators), forwarded over NotifyPayment with its headers."""
    paid = channels.wechat(order_id, amount, NOW, transaction_id=transaction_id)
    headers, raw = channels.callback(Channel.WECHAT, paid, sent_at=NOW)
    return channels.request(Channel.WECHAT, headers, raw, request_id=request_id)


async def test_a_notification_applied_replayed_or_resent_costs_four_round_trips(
    tax_pool: Pool, counted: tuple[OneConnection, list[str]]
) -> None:
    clock = FixedClock(NOW)
    warm_up = await pending_order(tax_pool, clock)
    order_id, amount = await pending_order(tax_pool, clock)
    one, statements = counted

    def uow() -> CollectionUnitOfWork:
        return CollectionUnitOfWork(one)  # type: ignore[arg-type]

    # The first call on a connection also prepares the statements and looks up their types once.
    await notify(notification(*warm_up, "4200RT0000", "rt-0"), uow, clock)
    statements.clear()
    first = notification(order_id, amount, "4200RT0001", "rt-1")
    applied = await notify(first, uow, clock)
    assert applied.outcome == pb.NOTIFICATION_OUTCOME_APPLIED
    assert len(statements) <= 4, [q.strip()[:60] for q in statements]

    for again in (first, notification(order_id, amount, "4200RT0001", "rt-2")):  # same id; channel resend
        statements.clear()
        replayed = await notify(again, uow, clock)
        assert replayed == applied
        assert len(statements) <= 4, [q.strip()[:60] for q in statements]

    payments = await tax_pool.fetchval("SELECT count(*) FROM payments WHERE order_id = $1::uuid", order_id)
    assert payments == 1


async def test_a_batch_costs_two_round_trips_per_notification_and_one_transaction(
    tax_pool: Pool, counted: tuple[OneConnection, list[str]]
) -> None:
    clock = FixedClock(NOW)
    warm_up, *orders = [await pending_order(tax_pool, clock) for _ in range(6)]
    one, statements = counted
    await notify(
        notification(*warm_up, "4200RTB0", "rt-b-0"),
        lambda: CollectionUnitOfWork(one),  # type: ignore[arg-type]
        FixedClock(NOW),
    )
    statements.clear()
    batch = pb.NotifyPaymentsRequest(
        request_id="rt-batch",
        notifications=[notification(o, a, f"4200RTB{n}", f"rt-b-{n}") for n, (o, a) in enumerate(orders, 1)],
    )
    notifications, refused = intake_convert.batch(batch)
    outcomes = await payment_intake.take_in_batch(
        notifications,
        refused,
        lambda: CollectionUnitOfWork(one),  # type: ignore[arg-type]
        clock,
        verifier(clock),
        SKEW,
    )
    reply = intake_convert.batch_response(batch, outcomes)
    assert [r.response.outcome for r in reply.results] == [pb.NOTIFICATION_OUTCOME_APPLIED] * 5
    assert len(statements) <= 2 * 5 + 2, [q.strip()[:60] for q in statements]


async def test_the_write_is_planned_once_per_connection_not_once_per_payment(
    tax_pool: Pool, counted: tuple[OneConnection, list[str]]
) -> None:
    """Issue 23 item 2: PostgreSQL re-planned the payment's write for every payment (a custom plan each
    time, as costly as running it); within the intake's transaction it runs on its prepared plan."""
    clock = FixedClock(NOW)
    orders = [await pending_order(tax_pool, clock) for _ in range(8)]
    one, _ = counted
    plans = """SELECT COALESCE(sum(generic_plans), 0) AS generic, COALESCE(sum(custom_plans), 0) AS custom
               FROM pg_prepared_statements WHERE statement LIKE '%paid_lines AS (%'"""
    before = await one.conn.fetchrow(plans)
    for n, (order_id, amount) in enumerate(orders):
        applied = await notify(
            notification(order_id, amount, f"4200GP{n:04d}", f"gp-{n}"),
            lambda: CollectionUnitOfWork(one),  # type: ignore[arg-type]
            clock,
        )
        assert applied.outcome == pb.NOTIFICATION_OUTCOME_APPLIED
    after = await one.conn.fetchrow(plans)
    assert before is not None and after is not None
    assert after["custom"] - before["custom"] == 0, "no payment's write planned afresh"
    assert after["generic"] - before["generic"] >= len(orders), "every payment's write on the prepared plan"
    assert await one.conn.fetchval("SHOW plan_cache_mode") == "auto", "only the intake's transactions"
