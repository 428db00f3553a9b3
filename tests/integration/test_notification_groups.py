"""Issue 23 (R21): concurrent notifications are taken in together, in few transactions, and each is
answered exactly as it would have been alone: one effect per channel transaction and per request id,
a refused or failing one never failing the others, a caller gone before its group started writing
nothing, and two processes' groups taking in copies of one payment at once applying it once."""

from __future__ import annotations

import asyncio
import types
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection import intake_convert, payment_intake
from services.collection.notification_groups import GroupLimits, NotificationGroups
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool, UnitOfWork
from services.common.errors import DomainError
from tests.e2e import channels
from tests.integration.test_deduction_runs import NOW
from tests.integration.test_payment_round_trips import SKEW, notification, pending_order, verifier


class CountedPool:
    """The pool, counting the transactions (units of work) the intake opens."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.acquired = 0

    async def acquire(self) -> asyncpg.pool.PoolConnectionProxy:
        self.acquired += 1
        return await self.pool.acquire()

    async def release(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        await self.pool.release(conn)


def groups_over(pool: Pool | CountedPool, limits: GroupLimits) -> NotificationGroups:
    clock = FixedClock(NOW)
    return NotificationGroups(
        lambda: CollectionUnitOfWork(pool),  # type: ignore[arg-type]
        clock,
        verifier(clock),
        SKEW,
        limits,
    )


async def notify(groups: NotificationGroups, request: pb.NotifyPaymentRequest) -> pb.NotifyPaymentResponse:
    return intake_convert.response(await groups.take_in(intake_convert.notification(request)))


async def all_at_once(
    groups: NotificationGroups, orders: list[tuple[str, int]], tag: str
) -> list[pb.NotifyPaymentResponse]:
    """Each order's payment notified at once (a transaction id and request id of its own, marked `tag`)."""
    return await asyncio.gather(
        *(
            notify(groups, notification(o, a, f"4200{tag}{n:04d}", f"{tag.lower()}-{n}"))
            for n, (o, a) in enumerate(orders)
        )
    )


async def payments_of(pool: Pool, order_ids: list[str]) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT order_id::text AS order_id, count(*) AS n FROM payments"
        " WHERE order_id::text = ANY($1::text[]) GROUP BY 1",
        order_ids,
    )
    return {row["order_id"]: row["n"] for row in rows}


async def outcomes_of(pool: Pool, order_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT outcome FROM channel_notifications WHERE order_id::text = $1 ORDER BY outcome", order_id
    )
    return [row["outcome"] for row in rows]


async def test_twenty_at_once_are_two_transactions_and_each_applied_with_its_own_payment(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    orders = [await pending_order(tax_pool, clock) for _ in range(20)]
    counted = CountedPool(tax_pool)
    groups = groups_over(counted, GroupLimits(in_flight=1, max_group=64))
    replies = await all_at_once(groups, orders, "GC")
    # The first found the intake idle and went alone; the other 19 waited for it and went together.
    assert counted.acquired == 2
    assert [r.outcome for r in replies] == [pb.NOTIFICATION_OUTCOME_APPLIED] * 20
    assert len({r.payment_id for r in replies}) == 20
    assert [r.order_id for r in replies] == [o for o, _ in orders]
    assert await payments_of(tax_pool, [o for o, _ in orders]) == {o: 1 for o, _ in orders}


async def test_a_group_is_never_larger_than_its_bound(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    orders = [await pending_order(tax_pool, clock) for _ in range(9)]
    counted = CountedPool(tax_pool)
    groups = groups_over(counted, GroupLimits(in_flight=1, max_group=4))
    replies = await all_at_once(groups, orders, "GB")
    assert counted.acquired == 1 + 2  # one alone, then the eight waiting in groups of four
    assert {r.outcome for r in replies} == {pb.NOTIFICATION_OUTCOME_APPLIED}


async def test_copies_in_one_group_have_one_effect_and_the_same_answer(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    warm_up = await pending_order(tax_pool, clock)
    order_id, amount = await pending_order(tax_pool, clock)
    counted = CountedPool(tax_pool)
    groups = groups_over(counted, GroupLimits(in_flight=1, max_group=64))
    same_request = notification(order_id, amount, "4200GD0001", "gd-1")
    resends = [notification(order_id, amount, "4200GD0001", f"gd-resend-{k}") for k in range(3)]
    # The warm-up holds the only slot, so every copy waits and the copies go in one group.
    replies = await asyncio.gather(
        notify(groups, notification(*warm_up, "4200GD0000", "gd-0")),
        *(notify(groups, copy) for copy in [same_request, same_request, same_request, *resends]),
    )
    assert counted.acquired == 2  # the warm-up, then the six copies together
    applied = replies[1]
    assert applied.outcome == pb.NOTIFICATION_OUTCOME_APPLIED
    assert all(r == applied for r in replies[2:]), replies[2:]
    assert await payments_of(tax_pool, [order_id]) == {order_id: 1}
    # One record per notification: the first applied, every copy replayed.
    assert await outcomes_of(tax_pool, order_id) == ["APPLIED"] + ["DUPLICATE_REPLAYED"] * 5


async def test_a_refused_notification_is_answered_alone_and_the_others_applied(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    warm_up, good, wrong = [await pending_order(tax_pool, clock) for _ in range(3)]
    groups = groups_over(tax_pool, GroupLimits(in_flight=1, max_group=64))
    replies = await asyncio.gather(
        notify(groups, notification(*warm_up, "4200GR0000", "gr-0")),
        notify(groups, notification(*good, "4200GR0001", "gr-1")),
        notify(groups, channels.forged(notification(*wrong, "4200GR0002", "gr-2"))),
        notify(groups, notification(*good, "4200GR0003", "gr-3")),  # paid twice: a refund, not a failure
        return_exceptions=True,
    )
    assert isinstance(replies[1], pb.NotifyPaymentResponse)
    assert replies[1].outcome == pb.NOTIFICATION_OUTCOME_APPLIED
    assert isinstance(replies[2], DomainError) and replies[2].reason == "SIGNATURE_INVALID", replies[2]
    assert isinstance(replies[3], pb.NotifyPaymentResponse)
    assert replies[3].outcome == pb.NOTIFICATION_OUTCOME_REFUND_RAISED
    assert await payments_of(tax_pool, [good[0], wrong[0]]) == {good[0]: 2}
    assert await outcomes_of(tax_pool, good[0]) == ["APPLIED", "REFUND_RAISED"]


@pytest.fixture
def failing_for(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Orders whose notification raises inside the intake's transaction (an error no rule foresaw)."""
    failing: set[str] = set()
    real = payment_intake._take_in

    async def take_in(uow, notification, admission, now):  # type: ignore[no-untyped-def]
        payment = getattr(admission, "payment", None)
        if payment is not None and payment.order_id in failing:
            raise RuntimeError("boom")
        return await real(uow, notification, admission, now)

    monkeypatch.setattr(payment_intake, "_take_in", take_in)
    yield failing


async def test_a_notification_that_fails_fails_alone(tax_pool: Pool, failing_for: set[str]) -> None:
    clock = FixedClock(NOW)
    warm_up, *orders = [await pending_order(tax_pool, clock) for _ in range(5)]
    failing_for.add(orders[2][0])
    counted = CountedPool(tax_pool)
    groups = groups_over(counted, GroupLimits(in_flight=1, max_group=64))
    replies = await asyncio.gather(
        notify(groups, notification(*warm_up, "4200GF0000", "gf-0")),
        *(notify(groups, notification(o, a, f"4200GF{n:04d}", f"gf-{n}")) for n, (o, a) in enumerate(orders, 1)),
        return_exceptions=True,
    )
    assert counted.acquired == 1 + 1 + 4  # the warm-up; the group, rolled back; each of the four alone
    assert isinstance(replies[3], RuntimeError)
    assert [r.outcome for i, r in enumerate(replies) if i != 3] == [pb.NOTIFICATION_OUTCOME_APPLIED] * 4  # type: ignore[union-attr]
    ids = [o for o, _ in orders]
    assert await payments_of(tax_pool, ids) == {o: 1 for o in ids if o != orders[2][0]}


async def test_a_caller_gone_before_its_group_started_writes_nothing(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    warm_up, order = await pending_order(tax_pool, clock), await pending_order(tax_pool, clock)
    groups = groups_over(tax_pool, GroupLimits(in_flight=1, max_group=64))
    first = asyncio.ensure_future(notify(groups, notification(*warm_up, "4200GX0000", "gx-0")))
    gone = asyncio.ensure_future(notify(groups, notification(*order, "4200GX0001", "gx-1")))
    await asyncio.sleep(0)  # both taken in: the first's group started, the second waiting for the slot
    gone.cancel()
    assert (await first).outcome == pb.NOTIFICATION_OUTCOME_APPLIED
    with pytest.raises(asyncio.CancelledError):
        await gone
    await groups_over(tax_pool, GroupLimits()).take_in(
        intake_convert.notification(notification(*warm_up, "4200GX0000", "gx-flush"))
    )  # a later group: had the gone one still been waiting, it would have gone by now
    assert await payments_of(tax_pool, [order[0]]) == {}
    assert await outcomes_of(tax_pool, order[0]) == []


async def test_two_processes_taking_in_copies_of_the_same_payments_apply_each_once(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    orders = [await pending_order(tax_pool, clock) for _ in range(12)]
    one, other = (groups_over(tax_pool, GroupLimits(in_flight=2, max_group=8)) for _ in range(2))
    copies = [
        notify(groups, notification(o, a, f"4200GP{n:04d}", f"gp-{n}-{k}"))
        for k, groups in enumerate((one, other, one, other))
        for n, (o, a) in enumerate(orders)
    ]
    replies = await asyncio.gather(*copies)
    by_order: dict[str, set[str]] = {}
    for reply in replies:
        assert reply.outcome == pb.NOTIFICATION_OUTCOME_APPLIED, reply
        by_order.setdefault(reply.order_id, set()).add(reply.payment_id)
    assert all(len(ids) == 1 for ids in by_order.values()), by_order  # every copy answered the one payment
    assert await payments_of(tax_pool, [o for o, _ in orders]) == {o: 1 for o, _ in orders}


@pytest.fixture
def commit_answer_lost(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The commits (counted from 1, once the list is not empty) whose COMMIT reaches the database and
    commits, but whose answer is lost: the connection drops before the client hears back."""
    lost: list[int] = []
    commits = [0]
    real = UnitOfWork.commit

    async def commit(self: UnitOfWork) -> None:
        commits[0] += 1 if lost else 0
        await real(self)
        if commits[0] in lost:
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    monkeypatch.setattr(UnitOfWork, "commit", commit)
    yield lost


async def test_a_group_whose_commit_answer_is_lost_records_each_notification_once(
    tax_pool: Pool, commit_answer_lost: list[int]
) -> None:
    clock = FixedClock(NOW)
    warm_up, *orders = [await pending_order(tax_pool, clock) for _ in range(4)]
    commit_answer_lost.append(2)  # the warm-up's commit is the first; the group's, the second
    groups = groups_over(tax_pool, GroupLimits(in_flight=1, max_group=64))
    requests = [notification(o, a, f"4200GL{n:04d}", f"gl-{n}") for n, (o, a) in enumerate(orders, 1)]
    replies = await asyncio.gather(
        notify(groups, notification(*warm_up, "4200GL0000", "gl-0")),
        *(notify(groups, r) for r in requests),
        return_exceptions=True,
    )
    assert isinstance(replies[0], pb.NotifyPaymentResponse)
    ids = [o for o, _ in orders]
    assert await payments_of(tax_pool, ids) == {o: 1 for o in ids}
    # The group did commit: every notification of it has its one record, not a second one written by
    # taking the same delivery in again as if it were a resend.
    for order_id in ids:
        assert await outcomes_of(tax_pool, order_id) == ["APPLIED"], order_id
    # Its callers could not know; sent again (the same request id), each gets the original payment.
    again = [await notify(groups, r) for r in requests]
    paid = {
        row["order_id"]: row["payment_id"]
        for row in await tax_pool.fetch(
            "SELECT order_id::text AS order_id, payment_id::text AS payment_id FROM payments"
            " WHERE order_id::text = ANY($1::text[])",
            ids,
        )
    }
    assert [r.payment_id for r in again] == [paid[o] for o in ids]


async def test_a_caller_gone_before_its_group_ran_a_step_writes_nothing(tax_pool: Pool) -> None:
    clock = FixedClock(NOW)
    order = await pending_order(tax_pool, clock)
    groups = groups_over(tax_pool, GroupLimits(in_flight=1, max_group=64))
    # The intake is idle: the notification is handed to a group of its own at once, whose task has
    # not yet run when its caller goes away (a client's deadline, a reset stream).
    gone = asyncio.ensure_future(notify(groups, notification(*order, "4200GY0001", "gy-1")))
    await asyncio.sleep(0)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.gather(*groups._running)  # the group, had it kept the gone one, writes it now
    assert await payments_of(tax_pool, [order[0]]) == {}
    assert await outcomes_of(tax_pool, order[0]) == []


def test_groups_lock_the_same_orders_in_the_same_order_however_their_ids_are_spelled() -> None:
    """A channel's order id is text; any spelling uuid.UUID accepts finds (and locks) the order. Two
    groups holding the same two orders, spelled differently, must still lock them in one order, or each
    can hold one and wait for the other (a deadlock: a second lost, every notification of a group again)."""
    first, second = sorted(str(uuid.uuid4()) for _ in range(2))

    def admitted(order_id: str) -> payment_intake.Admitted:
        return payment_intake.Admitted(None, types.SimpleNamespace(order_id=order_id))  # type: ignore[arg-type]

    def locked(order_ids: list[str]) -> list[uuid.UUID]:
        admissions = [admitted(o) for o in order_ids]
        return [uuid.UUID(order_ids[i]) for i in payment_intake._in_lock_order(admissions)]

    one = locked([first, f"urn:uuid:{second}"])
    other = locked([f"urn:uuid:{first}", second.replace("-", "").upper()])
    assert one == other == [uuid.UUID(first), uuid.UUID(second)]


async def test_beyond_the_waiting_bound_a_notification_is_answered_busy_and_nothing_is_stored(tax_pool: Pool) -> None:
    """The intake's queue is bounded (issue 23's review): with the slot busy and the bound reached, the
    next notification is answered RESOURCE_EXHAUSTED at once, unstored; the ones waiting are applied."""
    clock = FixedClock(NOW)
    orders = [await pending_order(tax_pool, clock) for _ in range(4)]
    groups = groups_over(tax_pool, GroupLimits(in_flight=1, max_group=64, max_waiting=2))
    taken = [
        asyncio.ensure_future(notify(groups, notification(o, a, f"4200GW{n:04d}", f"gw-{n}")))
        for n, (o, a) in enumerate(orders[:3])
    ]
    await asyncio.sleep(0)  # one in the slot, two waiting: the bound
    with pytest.raises(DomainError) as busy:
        await notify(groups, notification(*orders[3], "4200GW0003", "gw-3"))
    assert busy.value.reason == "INTAKE_BUSY" and busy.value.retry_after
    assert [r.outcome for r in await asyncio.gather(*taken)] == [pb.NOTIFICATION_OUTCOME_APPLIED] * 3
    assert await outcomes_of(tax_pool, orders[3][0]) == []  # the busy answer stored nothing
    replay = await notify(groups, notification(*orders[3], "4200GW0003", "gw-3"))  # sent again: applied
    assert replay.outcome == pb.NOTIFICATION_OUTCOME_APPLIED
