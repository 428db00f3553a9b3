"""R27 deduction runs against the real tax database with an in-memory bank: concurrent runs, a run
that dies before the bank hears of it, and card key rotation."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid

import pytest

from services.collection.card_vault import CardVault, parse_keys
from services.collection.domain.agreements import IdType, Relationship
from services.collection.gateways.bank_deduction import DeductionRequest, DeductionResult, DeductionStatus
from services.collection.gateways.notifier import LocalNotifier
from services.collection.gateways.sms import LocalSmsGateway
from services.collection.handlers.agreements import SignAgreement, confirm_agreement, reencrypt_cards, sign_agreement
from services.collection.handlers.deductions import DeductionConfig, DeductionServices, run_deductions
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import CST, FixedClock
from services.common.db import Pool
from services.common.money import Fen
from tests.factories import unique_resident_id
from tests.seeding import assessed_item

NOW = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)
CARD = "6222021234567890123"
KEYS = f"k1:{base64.b64encode(b'1' * 32).decode()},k2:{base64.b64encode(b'2' * 32).decode()}"
CONFIG = DeductionConfig(
    order_ttl=dt.timedelta(days=1), clock_skew=dt.timedelta(seconds=5), max_failed_runs=3, bank_timeout_seconds=5
)


class MemoryBank:
    """Deducts once per attempt id; can be slow, or die before the deduction reaches it."""

    def __init__(self, *, delay: float = 0.0, die: bool = False) -> None:
        self.delay = delay
        self.die = die
        self.deductions: dict[str, DeductionResult] = {}
        self.calls = 0

    async def deduct(self, request: DeductionRequest) -> DeductionResult:
        self.calls += 1
        if self.die:
            raise RuntimeError("the worker died before the bank heard of it")
        await asyncio.sleep(self.delay)
        if request.attempt_id not in self.deductions:
            self.deductions[request.attempt_id] = DeductionResult(
                request.attempt_id, DeductionStatus.SUCCEEDED, request.amount_fen, f"B{uuid.uuid4().hex[:12]}", NOW
            )
        return self.deductions[request.attempt_id]

    async def query(self, attempt_id: str) -> DeductionResult | None:
        return self.deductions.get(attempt_id)


async def unpaid_person(pool: Pool) -> tuple[str, str]:
    """A person with one unpaid 380-yuan item, as assessment would have left it; returns (number, item id)."""
    async with pool.acquire() as conn:
        seeded = await assessed_item(conn, unique_resident_id(), NOW, name="钱一")
    return seeded.number, str(seeded.payable_item_id)


async def active_agreement(pool: Pool, vault: CardVault, insured: str) -> str:
    clock, sms = FixedClock(NOW), LocalSmsGateway(None)
    async with CollectionUnitOfWork(pool) as uow:
        agreement = await sign_agreement(
            SignAgreement(
                unique_resident_id(),
                IdType.RESIDENT_ID_CARD,
                insured,
                "钱一",
                "工商银行",
                CARD,
                "钱父",
                "13912345678",
                Relationship.PARENT,
                True,
            ),
            uow,
            clock,
            vault,
            sms,
        )
        await uow.commit()
    async with CollectionUnitOfWork(pool) as uow:
        await confirm_agreement(
            agreement.payer_id_number, agreement.agreement_id, sms.codes[agreement.agreement_id], uow, clock
        )
        await uow.commit()
    return agreement.agreement_id


async def item_status(pool: Pool, item_id: str) -> str:
    async with pool.acquire() as conn:
        return str(
            await conn.fetchval("SELECT status FROM payable_items WHERE payable_item_id = $1", uuid.UUID(item_id))
        )


def services(bank: MemoryBank, vault: CardVault) -> DeductionServices:
    return DeductionServices(bank=bank, vault=vault, notifier=LocalNotifier(None))


async def test_two_runs_at_once_deduct_each_agreement_once(tax_pool: Pool) -> None:
    vault = CardVault(parse_keys(KEYS), "k1")
    insured, item = await unpaid_person(tax_pool)
    await active_agreement(tax_pool, vault, insured)
    bank = MemoryBank(delay=0.3)

    first, second = await asyncio.gather(
        run_deductions(lambda: CollectionUnitOfWork(tax_pool), FixedClock(NOW), services(bank, vault), CONFIG),
        run_deductions(lambda: CollectionUnitOfWork(tax_pool), FixedClock(NOW), services(bank, vault), CONFIG),
    )
    assert (first.attempted + second.attempted, first.succeeded + second.succeeded) == (1, 1)
    assert len(bank.deductions) == 1
    assert await item_status(tax_pool, item) == "PAID"
    async with tax_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'payment.confirmed'") == 1


async def test_a_run_that_dies_before_the_bank_hears_of_it_is_settled_by_the_next_run(tax_pool: Pool) -> None:
    vault = CardVault(parse_keys(KEYS), "k1")
    insured, item = await unpaid_person(tax_pool)
    agreement_id = await active_agreement(tax_pool, vault, insured)
    with pytest.raises(RuntimeError):
        await run_deductions(
            lambda: CollectionUnitOfWork(tax_pool), FixedClock(NOW), services(MemoryBank(die=True), vault), CONFIG
        )
    assert await item_status(tax_pool, item) == "UNPAID"

    bank = MemoryBank()
    summary = await run_deductions(
        lambda: CollectionUnitOfWork(tax_pool), FixedClock(NOW), services(bank, vault), CONFIG
    )
    assert (summary.attempted, summary.succeeded) == (1, 1)
    assert await item_status(tax_pool, item) == "PAID"
    async with tax_pool.acquire() as conn:
        attempts = await conn.fetch(
            "SELECT status, failure_reason FROM deduction_attempts WHERE agreement_id = $1 ORDER BY status",
            uuid.UUID(agreement_id),
        )
    assert [(a["status"], a["failure_reason"]) for a in attempts] == [
        ("FAILED", "NOT_RECEIVED_BY_BANK"),
        ("SUCCEEDED", None),
    ]


async def test_cards_reencrypted_under_a_new_key_are_deducted_without_the_old_key(tax_pool: Pool) -> None:
    insured, item = await unpaid_person(tax_pool)
    await active_agreement(tax_pool, CardVault(parse_keys(KEYS), "k1"), insured)
    rotated = CardVault(parse_keys(KEYS), "k2")
    assert await reencrypt_cards(lambda: CollectionUnitOfWork(tax_pool), rotated, FixedClock(NOW), batch_size=1) == 1
    assert await reencrypt_cards(lambda: CollectionUnitOfWork(tax_pool), rotated, FixedClock(NOW)) == 0
    only_new = CardVault({"k2": parse_keys(KEYS)["k2"]}, "k2")
    bank = MemoryBank()
    await run_deductions(lambda: CollectionUnitOfWork(tax_pool), FixedClock(NOW), services(bank, only_new), CONFIG)
    assert await item_status(tax_pool, item) == "PAID"
    assert [r.amount_fen for r in bank.deductions.values()] == [Fen(38000)]
