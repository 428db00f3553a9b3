"""Issue 23, R32: a busy consumer applies the events waiting beside each other in one transaction, and
each event keeps exactly the guarantees it has alone: applied once, a copy applying nothing, a bad one
failing alone, an event seeing the one before it, a lost COMMIT answer or a deadlock losing nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from medins.events.v1 import events_pb2

from services.collection.enrollment_events import enrollment_event_handlers
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.db import Pool
from services.common.messaging.envelope import ENROLLMENT_REGISTERED, ENROLLMENT_STOPPED
from services.common.messaging.event_batches import BatchLimits, EventBatches, Handler
from services.common.proto_values import timestamp
from tests.factories import resident_id
from tests.integration.messaging_helpers import NOW, envelope
from tests.integration.test_consumer import count, registered

REAL = enrollment_event_handlers(FixedClock(NOW))
ASSESS = REAL[ENROLLMENT_REGISTERED.name]
STOP = REAL[ENROLLMENT_STOPPED.name]


class Gate:
    """Holds the first event's transaction open until released, so the next ones have to wait."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.open = asyncio.Event()

    def holding(self, handler: Handler[CollectionUnitOfWork]) -> Handler[CollectionUnitOfWork]:
        async def held(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
            self.entered.set()
            await self.open.wait()
            await handler(env, uow)

        return held


def recording(transactions: dict[str, int], handler: Handler[CollectionUnitOfWork]) -> Handler[CollectionUnitOfWork]:
    """`handler`, noting the transaction each event was applied in."""

    async def noted(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        transactions[env.event_id] = int(await uow.conn.fetchval("SELECT txid_current()"))
        await handler(env, uow)

    return noted


async def behind_a_held_one(
    batches: EventBatches[CollectionUnitOfWork],
    waiting: list[tuple[events_pb2.EventEnvelope, Handler[CollectionUnitOfWork]]],
) -> tuple[bool, list[bool | BaseException]]:
    """Applies one event whose transaction is held, the `waiting` ones behind it, then lets it go."""
    gate = Gate()
    first = asyncio.create_task(batches.apply(registered(resident_id()), gate.holding(ASSESS)))
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    behind = [asyncio.create_task(batches.apply(env, handler)) for env, handler in waiting]
    await asyncio.sleep(0)  # each has run to its wait (one step of the loop, not a timed wait)
    gate.open.set()
    answers = await asyncio.wait_for(asyncio.gather(*behind, return_exceptions=True), timeout=30)
    return await first, list(answers)


def batches_of(pool: Pool, in_flight: int = 1, max_batch: int = 32) -> EventBatches[CollectionUnitOfWork]:
    return EventBatches("collection", lambda: CollectionUnitOfWork(pool), BatchLimits(in_flight, max_batch), "tax")


async def test_events_that_wait_go_together_in_one_transaction_each_applied_once(tax_pool: Pool) -> None:
    transactions: dict[str, int] = {}
    events = [registered(resident_id(), enrollment_id=_uuid(n)) for n in range(6)]
    copy = events[2]  # the broker delivers one of them twice, into the same batch
    first, answers = await behind_a_held_one(
        batches_of(tax_pool), [(e, recording(transactions, ASSESS)) for e in [*events, copy]]
    )

    assert first is True
    assert answers == [True] * 6 + [False]
    assert len({transactions[e.event_id] for e in events}) == 1  # one transaction for the six
    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 7
    assert await count(tax_pool, "SELECT count(*) FROM inbox") == 7


async def test_a_batch_is_never_larger_than_its_bound(tax_pool: Pool) -> None:
    transactions: dict[str, int] = {}
    events = [registered(resident_id(), enrollment_id=_uuid(n)) for n in range(7)]
    _, answers = await behind_a_held_one(
        batches_of(tax_pool, max_batch=3), [(e, recording(transactions, ASSESS)) for e in events]
    )

    assert answers == [True] * 7
    sizes = sorted(list(transactions.values()).count(t) for t in set(transactions.values()))
    assert sizes == [1, 3, 3]
    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 8


async def test_a_failing_event_fails_alone_and_the_others_in_its_batch_are_applied(tax_pool: Pool) -> None:
    async def broken(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        await ASSESS(env, uow)
        raise RuntimeError("this event's handler fails after writing")

    good = [registered(resident_id(), enrollment_id=_uuid(n)) for n in range(3)]
    bad = registered(resident_id(), enrollment_id=_uuid(9))
    _, answers = await behind_a_held_one(
        batches_of(tax_pool), [(good[0], ASSESS), (bad, broken), (good[1], ASSESS), (good[2], ASSESS)]
    )

    assert answers[0] is True and answers[2:] == [True, True]
    assert isinstance(answers[1], RuntimeError)  # its own error, for its delivery to retry
    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 4  # the held one and the three good
    assert await count(tax_pool, f"SELECT count(*) FROM inbox WHERE event_id = '{bad.event_id}'") == 0


async def test_an_event_sees_the_one_before_it_in_its_batch(tax_pool: Pool) -> None:
    """R17a: a registration waits for the stop of the person's other enrollment; in one batch after it,
    it needs no retry."""
    number = resident_id()
    old, new = _uuid(1), _uuid(2)
    batches = batches_of(tax_pool)
    assert await batches.apply(registered(number, enrollment_id=old), ASSESS) is True
    transactions: dict[str, int] = {}
    stop = _stopped(number, old)
    again = registered(number, enrollment_id=new)
    _, answers = await behind_a_held_one(
        batches, [(stop, recording(transactions, STOP)), (again, recording(transactions, ASSESS))]
    )

    assert answers == [True, True]
    assert transactions[stop.event_id] == transactions[again.event_id]
    assert await count(tax_pool, f"SELECT count(*) FROM payable_items WHERE enrollment_id = '{new}'") == 1


async def test_a_commit_whose_answer_is_lost_applies_nothing_twice(tax_pool: Pool) -> None:
    """The batch committed but its caller never heard: each event applied alone finds its inbox row."""

    class AnswerLost(CollectionUnitOfWork):
        async def commit(self) -> None:
            await super().commit()
            raise ConnectionResetError("the connection closed before COMMIT's answer arrived")

    units: list[Callable[[], CollectionUnitOfWork]] = [lambda: CollectionUnitOfWork(tax_pool)]

    def unit() -> CollectionUnitOfWork:
        return units[0]()

    batches = EventBatches("collection", unit, BatchLimits(1, 32), "tax")
    events = [registered(resident_id(), enrollment_id=_uuid(n)) for n in range(4)]
    gate = Gate()

    async def held_then_lose_the_next_commit(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
        await gate.holding(ASSESS)(env, uow)
        units[0] = _once(lambda: AnswerLost(tax_pool), lambda: CollectionUnitOfWork(tax_pool))

    first = asyncio.create_task(batches.apply(registered(resident_id()), held_then_lose_the_next_commit))
    await asyncio.wait_for(gate.entered.wait(), timeout=10)
    behind = [asyncio.create_task(batches.apply(e, ASSESS)) for e in events]
    await asyncio.sleep(0)
    gate.open.set()
    assert await first is True
    assert await asyncio.wait_for(asyncio.gather(*behind), timeout=30) == [False] * 4  # already applied

    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 5
    assert await count(tax_pool, "SELECT count(*) FROM inbox") == 5


async def test_two_batches_that_deadlock_lose_nothing_and_apply_nothing_twice(tax_pool: Pool) -> None:
    """Two batches lock two rows in opposite orders: PostgreSQL breaks one, and its events are applied
    alone; every event ends applied exactly once."""
    batches = batches_of(tax_pool, in_flight=2)
    both_hold_their_first = asyncio.Barrier(2)

    def locking(first: int, then: int) -> Handler[CollectionUnitOfWork]:
        """One batch's handler: its first event holds `first` until the other batch holds its own."""
        taken: list[bool] = []

        async def locks(env: events_pb2.EventEnvelope, uow: CollectionUnitOfWork) -> None:
            await uow.conn.execute("SELECT pg_advisory_xact_lock($1)", first)
            if not taken:  # its batch's first event; alone again after the deadlock, none waits
                taken.append(True)
                await asyncio.wait_for(both_hold_their_first.wait(), timeout=10)
            await uow.conn.execute("SELECT pg_advisory_xact_lock($1)", then)
            await ASSESS(env, uow)

        return locks

    gates = [Gate(), Gate()]
    held = [
        asyncio.create_task(
            batches.apply(registered(resident_id(), enrollment_id=_uuid(100 + n)), gate.holding(ASSESS))
        )
        for n, gate in enumerate(gates)
    ]
    for gate in gates:
        await asyncio.wait_for(gate.entered.wait(), timeout=10)
    one = [registered(resident_id(), enrollment_id=_uuid(n)) for n in range(3)]
    other = [registered(resident_id(), enrollment_id=_uuid(10 + n)) for n in range(3)]
    one_way, other_way = locking(1, 2), locking(2, 1)
    first_batch = [asyncio.create_task(batches.apply(e, one_way)) for e in one]
    await asyncio.sleep(0)
    gates[0].open.set()
    await held[0]
    second_batch = [asyncio.create_task(batches.apply(e, other_way)) for e in other]
    await asyncio.sleep(0)
    gates[1].open.set()
    await held[1]
    answers = await asyncio.wait_for(asyncio.gather(*first_batch, *second_batch), timeout=30)

    assert answers == [True] * 6
    assert await count(tax_pool, "SELECT count(*) FROM payable_items") == 8
    assert await count(tax_pool, "SELECT count(*) FROM inbox") == 8


def _once(
    first: Callable[[], CollectionUnitOfWork], then: Callable[[], CollectionUnitOfWork]
) -> Callable[[], CollectionUnitOfWork]:
    made: list[bool] = []

    def make() -> CollectionUnitOfWork:
        if made:
            return then()
        made.append(True)
        return first()

    return make


def _stopped(number: str, enrollment_id: str) -> events_pb2.EventEnvelope:
    return envelope(
        ENROLLMENT_STOPPED,
        events_pb2.EnrollmentStopped(
            enrollment_id=enrollment_id,
            enrollment_sequence=2,
            resident_id_number=number,
            region_code="340800",
            reason="MOVED_AWAY",
            stop_time=timestamp(NOW - dt.timedelta(days=1)),
        ),
    )


def _uuid(n: int) -> str:
    return f"5b2c9a48-0d6e-4c43-9a55-{n:012d}"
