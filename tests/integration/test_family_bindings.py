"""R46 on the real tax database: bindings of a family mutual-aid account, and the payment path refusing a
payment for an unbound person before anything is taken (the balance and its ledger untouched)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest

from services.collection.domain.agreements import Relationship
from services.collection.domain.model import Channel, PaymentOutcome
from services.collection.domain.payments import ChannelPayment
from services.collection.enrollment_events import enrollment_event_handlers
from services.collection.handlers import family
from services.collection.handlers.orders import create_order
from services.collection.handlers.records import update_family_account
from services.collection.payment_intake import settle_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.db import Pool
from services.common.errors import FailedPrecondition, NotFound
from services.common.money import Fen
from tests.factories import resident_id
from tests.integration.test_cross_agency import CLOCK, TTL, Events, X, deliver, items_of, register, set_up

D = dt.date
NAME = "王五"  # what tests/integration/test_cross_agency.py registers everyone as


async def assessed(insurance: Pool, tax: Pool, *numbers: str) -> None:
    events = Events(insurance)
    for number in numbers:
        await register(insurance, number, X)
    for event in await events.new():
        await deliver(tax, CollectionUnitOfWork, enrollment_event_handlers(CLOCK), event)


async def bind(tax: Pool, holder: str, member: str, *, holder_name: str = "王大", name: str = NAME) -> None:
    async with CollectionUnitOfWork(tax) as uow:
        await family.bind_member(holder, holder_name, member, name, Relationship.CHILD, uow, CLOCK)
        await uow.commit()


async def order_for(tax: Pool, holder: str, numbers: list[str]) -> tuple[str, Fen]:
    item_ids = [item for number in numbers for item, _, _ in await items_of(tax, number)]
    async with CollectionUnitOfWork(tax) as uow:
        order = await create_order(holder, item_ids, uow, CLOCK, TTL)
        await uow.commit()
    return order.order_id, Fen(order.total_fen)


async def pay_from_account(tax: Pool, holder: str, order: tuple[str, Fen]) -> PaymentOutcome:
    payment = ChannelPayment(
        channel=Channel.FAMILY_MUTUAL_AID,
        transaction_id=f"F-{uuid.uuid4().hex[:12]}",
        order_id=order[0],
        amount_fen=order[1],
        paid_at=CLOCK.now(),
        payload_sha256=hashlib.sha256(order[0].encode()).digest(),
        family_holder_id_number=holder,
    )
    async with CollectionUnitOfWork(tax) as uow:
        result = await settle_payment(uow, payment, CLOCK, dt.timedelta(seconds=5))
        await uow.commit()
    return result.outcome


async def test_a_payment_for_an_unbound_member_is_refused_before_anything_is_taken(
    insurance_pool: Pool, tax_pool: Pool
) -> None:
    await set_up(insurance_pool)
    holder, child, nephew = resident_id(D(1970, 1, 1)), resident_id(D(2010, 1, 1)), resident_id(D(2011, 1, 1))
    await assessed(insurance_pool, tax_pool, child, nephew)
    async with CollectionUnitOfWork(tax_pool) as uow:
        await update_family_account(holder, 200000, uow, CLOCK)
        await uow.commit()
    await bind(tax_pool, holder, child)

    order = await order_for(tax_pool, holder, [child, nephew])
    with pytest.raises(FailedPrecondition) as refused:
        await pay_from_account(tax_pool, holder, order)  # one of the two is not bound
    assert refused.value.reason == "FAMILY_MEMBER_NOT_BOUND" and "请先绑定家庭共济关系" in refused.value.message_zh
    assert await tax_pool.fetchval("SELECT balance_fen FROM family_accounts") == 200000
    assert await tax_pool.fetchval("SELECT count(*) FROM family_account_entries WHERE kind = 'DEBIT'") == 0
    assert await tax_pool.fetchval("SELECT count(*) FROM payments") == 0
    assert {s for _, s, _ in await items_of(tax_pool, child) + await items_of(tax_pool, nephew)} == {"UNPAID"}

    await bind(tax_pool, holder, nephew)
    assert await pay_from_account(tax_pool, holder, order) is PaymentOutcome.APPLIED
    assert await tax_pool.fetchval("SELECT balance_fen FROM family_accounts") == 200000 - order[1]
    assert await tax_pool.fetchval("SELECT count(*) FROM family_account_entries WHERE kind = 'DEBIT'") == 1


async def test_bindings_are_listed_kept_once_and_removed(insurance_pool: Pool, tax_pool: Pool) -> None:
    await set_up(insurance_pool)
    holder, child, spouse = resident_id(D(1970, 1, 1)), resident_id(D(2010, 1, 1)), resident_id(D(1972, 1, 1))
    await assessed(insurance_pool, tax_pool, child, spouse)
    await bind(tax_pool, holder, child)
    await bind(tax_pool, holder, child)  # again: the existing binding
    await bind(tax_pool, holder, spouse)
    async with CollectionUnitOfWork(tax_pool) as uow:
        listed = await family.members(holder, uow, CLOCK)
    assert sorted((m.member_id_number, m.holder_name) for m in listed) == sorted([(child, "王大"), (spouse, "王大")])

    with pytest.raises(NotFound) as other_name:
        await bind(tax_pool, holder, spouse, holder_name="王二")
    assert other_name.value.reason == "FAMILY_HOLDER_NOT_MATCHED"
    with pytest.raises(NotFound) as wrong_member:
        await bind(tax_pool, holder, child, name="李四")
    assert wrong_member.value.reason == "INSURED_PERSON_NOT_MATCHED"

    async with CollectionUnitOfWork(tax_pool) as uow:
        removed = await family.unbind_member(holder, "王大", spouse, uow, CLOCK)
        await uow.commit()
    assert removed.member_id_number == spouse
    with pytest.raises(NotFound) as again:
        async with CollectionUnitOfWork(tax_pool) as uow:
            await family.unbind_member(holder, "王大", spouse, uow, CLOCK)
    assert again.value.reason == "FAMILY_MEMBER_NOT_BOUND"
    assert await tax_pool.fetchval("SELECT count(*) FROM family_members") == 1
