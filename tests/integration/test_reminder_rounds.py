"""R29 reminder rounds against the real tax database: two senders at once, and a round started twice,
still remind each unpaid person once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

from services.collection.domain.model import ItemStatus
from services.collection.gateways.notifier import Message
from services.collection.handlers.reminders import send_pending_reminders, start_due_rounds
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import CST, FixedClock
from services.common.db import Pool
from tests.factories import unique_resident_id
from tests.seeding import assessed_item

NOW = dt.datetime(2023, 12, 28, 9, 0, tzinfo=CST)


class CountingNotifier:
    """Counts every delivery, by recipient, without deduplicating: what a careless gateway would do."""

    def __init__(self) -> None:
        self.delivered: Counter[str] = Counter()

    async def notify(self, message: Message, now: dt.datetime) -> bool:
        await asyncio.sleep(0.01)
        self.delivered[message.recipient_id_number] += 1
        return True


async def person_with_item(pool: Pool, status: ItemStatus) -> str:
    async with pool.acquire() as conn:
        seeded = await assessed_item(conn, unique_resident_id(), NOW, status=status)
    return seeded.number


async def test_two_senders_and_a_round_started_twice_remind_each_unpaid_person_once(tax_pool: Pool) -> None:
    unpaid = [await person_with_item(tax_pool, ItemStatus.UNPAID) for _ in range(20)]
    paid = await person_with_item(tax_pool, ItemStatus.PAID)
    clock = FixedClock(NOW)
    created = await asyncio.gather(
        start_due_rounds(lambda: CollectionUnitOfWork(tax_pool), clock, 7),
        start_due_rounds(lambda: CollectionUnitOfWork(tax_pool), clock, 7),
    )
    assert sorted(created) == [0, 20]
    notifier = CountingNotifier()
    handled = await asyncio.gather(
        *(send_pending_reminders(lambda: CollectionUnitOfWork(tax_pool), clock, notifier, 100) for _ in range(2))
    )
    assert sum(handled) == 20 and all(handled), "both senders took part"
    assert notifier.delivered == Counter(dict.fromkeys(unpaid, 1)) and paid not in notifier.delivered
    assert await send_pending_reminders(lambda: CollectionUnitOfWork(tax_pool), clock, notifier, 100) == 0
