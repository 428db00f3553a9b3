"""Deduction runs (批量扣款, R27): every payable item of each person with an active agreement is
deducted from the agreed card, without asking again.

Each deduction is an attempt with its own id, committed before the bank is called and locked while the
call is in flight. A lost answer (timeout, crash) leaves the attempt open; the next run asks the bank
about that attempt id instead of deducting again, so money never moves twice. A success goes through
`settle_payment`, the same decision and write that applies a channel's NotifyPayment: receipt, payment.confirmed,
coverage. A refusal frees the items and counts a failed run; after too many in a row the agreement is
suspended and the payer told to pay through an ordinary order."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from services.collection.card_vault import CardKeyError, CardVault
from services.collection.domain.agreements import Agreement, AgreementStatus, after_failed_run
from services.collection.domain.deductions import AttemptStatus, deductible, deduction_payment, fallback_text
from services.collection.domain.model import OrderKind
from services.collection.gateways.bank_deduction import (
    BankDeduction,
    BankTimeout,
    DeductionRequest,
    DeductionResult,
    DeductionStatus,
)
from services.collection.gateways.notifier import Message, Notifier
from services.collection.handlers.orders import create_order
from services.collection.payment_intake import settle_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.errors import DomainError
from services.common.money import Fen

log = structlog.get_logger(__name__)

# A success is settled through the payment intake (settle_payment), which runs on the database only: a run
# takes the SQL unit of work's factory, not the ports'.
UowFactory = Callable[[], CollectionUnitOfWork]

MAX_ITEMS_PER_DEDUCTION = 100


@dataclass(frozen=True)
class DeductionConfig:
    order_ttl: dt.timedelta
    clock_skew: dt.timedelta
    max_failed_runs: int
    bank_timeout_seconds: float


@dataclass(frozen=True)
class DeductionServices:
    bank: BankDeduction
    vault: CardVault
    notifier: Notifier


@dataclass
class RunSummary:
    run_id: str
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    unknown: int = 0
    settled_late: int = 0
    suspended: list[str] = field(default_factory=list)


async def run_deductions(
    uow_factory: UowFactory,
    clock: Clock,
    services: DeductionServices,
    config: DeductionConfig,
    batch_size: int = 100,
) -> RunSummary:
    """One deduction run: first settle attempts whose answer was lost, then deduct for every active agreement."""
    summary = RunSummary(run_id=str(uuid.uuid4()))
    async with uow_factory() as uow:
        await uow.deductions.start_run(summary.run_id, clock.now())
        await uow.commit()
    log.info("deduction_run_started", run_id=summary.run_id)
    async with uow_factory() as uow:
        open_attempts = await uow.deductions.open_attempts(10_000)
    for attempt in open_attempts:
        await _settle_open_attempt(uow_factory, clock, services, config, attempt.attempt_id, summary)
    after: str | None = None
    while True:
        async with uow_factory() as uow:
            batch = await uow.agreements.active_after(after, batch_size)
        if not batch:
            break
        for agreement_id in batch:
            await _deduct_for(uow_factory, clock, services, config, agreement_id, summary)
        after = batch[-1]
    async with uow_factory() as uow:
        await uow.deductions.finish_run(
            summary.run_id,
            clock.now(),
            attempted=summary.attempted,
            succeeded=summary.succeeded,
            failed=summary.failed,
            unknown=summary.unknown,
        )
        await uow.commit()
    log.info(
        "deduction_run_finished",
        run_id=summary.run_id,
        attempted=summary.attempted,
        succeeded=summary.succeeded,
        failed=summary.failed,
        unknown=summary.unknown,
        settled_late=summary.settled_late,
        suspended=len(summary.suspended),
    )
    return summary


async def _deduct_for(
    uow_factory: UowFactory,
    clock: Clock,
    services: DeductionServices,
    config: DeductionConfig,
    agreement_id: str,
    summary: RunSummary,
) -> None:
    attempt_id = str(uuid.uuid4())
    async with uow_factory() as uow:
        agreement = await uow.agreements.lock_active(agreement_id)
        if agreement is None or await uow.deductions.has_open_attempt(agreement_id):
            return  # revoked meanwhile, deducted by a concurrent run, or an answer still outstanding
        now = clock.now()
        found = await uow.items.items_of_person(
            agreement.insured_id_number, include_settled=False, after=None, limit=MAX_ITEMS_PER_DEDUCTION
        )
        due = deductible(found[1] if found else [], now.date())
        if not due:
            return
        stored = await uow.agreements.card(agreement_id)
        try:
            card_number = services.vault.decrypt(stored.key_id, stored.ciphertext, agreement_id)
        except CardKeyError:  # a key taken out of the configuration too early: an operator must act
            log.error("deduction_card_unreadable", agreement_id=agreement_id, key_id=stored.key_id)
            return
        try:
            order = await create_order(
                agreement.payer_id_number,
                [i.payable_item_id for i in due],
                uow,
                clock,
                config.order_ttl,
                kind=OrderKind.AGREEMENT_DEDUCTION,
            )
        except DomainError as error:  # an item got held or paid meanwhile: the next run tries again
            log.info("deduction_skipped", agreement_id=agreement_id, reason=error.reason)
            return
        await uow.deductions.insert_attempt(
            attempt_id, agreement_id, summary.run_id, order.order_id, order.total_fen, now
        )
        await uow.commit()
    summary.attempted += 1
    async with uow_factory() as uow:
        attempt = await uow.deductions.lock_open_attempt(attempt_id)
        assert attempt is not None  # ours, just committed
        request = DeductionRequest(
            attempt_id=attempt_id,
            order_id=order.order_id,
            card_number=card_number,
            holder_name=agreement.card_holder_name,
            amount_fen=order.total_fen,
        )
        try:
            result = await asyncio.wait_for(services.bank.deduct(request), timeout=config.bank_timeout_seconds)
        except (BankTimeout, TimeoutError):
            await uow.deductions.finish_attempt(attempt_id, AttemptStatus.UNKNOWN, clock.now())
            await uow.commit()
            summary.unknown += 1
            log.warning("deduction_answer_unknown", attempt_id=attempt_id, agreement_id=agreement_id)
            return
        await _record_result(uow, clock, services, config, agreement, attempt_id, order.order_id, result, summary)
        await uow.commit()


async def _settle_open_attempt(
    uow_factory: UowFactory,
    clock: Clock,
    services: DeductionServices,
    config: DeductionConfig,
    attempt_id: str,
    summary: RunSummary,
) -> None:
    """Asks the bank about an attempt whose answer never came, and records what it says."""
    async with uow_factory() as uow:
        attempt = await uow.deductions.lock_open_attempt(attempt_id)
        if attempt is None:
            return  # in flight in another run, or settled meanwhile
        try:
            result = await asyncio.wait_for(services.bank.query(attempt_id), timeout=config.bank_timeout_seconds)
        except (BankTimeout, TimeoutError):
            log.warning("deduction_still_unknown", attempt_id=attempt_id)
            return
        now = clock.now()
        if result is None:
            # The bank never received it (we died before sending): nothing moved, the items are free again.
            await uow.deductions.finish_attempt(
                attempt_id, AttemptStatus.FAILED, now, failure_reason="NOT_RECEIVED_BY_BANK"
            )
            await uow.orders.expire_now(attempt.order_id, now)
            await uow.commit()
            return
        found = await uow.agreements.get(attempt.agreement_id)
        assert found is not None
        await _record_result(uow, clock, services, config, found[0], attempt_id, attempt.order_id, result, summary)
        await uow.commit()
    if result.status is DeductionStatus.SUCCEEDED:
        summary.settled_late += 1


async def _record_result(
    uow: CollectionUnitOfWork,
    clock: Clock,
    services: DeductionServices,
    config: DeductionConfig,
    agreement: Agreement,
    attempt_id: str,
    order_id: str,
    result: DeductionResult,
    summary: RunSummary,
) -> None:
    now = clock.now()
    if result.status is DeductionStatus.SUCCEEDED:
        assert result.transaction_id is not None and result.paid_at is not None
        payment = deduction_payment(order_id, result.transaction_id, result.amount_fen, result.paid_at, attempt_id)
        applied = await settle_payment(uow, payment, clock, config.clock_skew)
        await uow.deductions.finish_attempt(
            attempt_id,
            AttemptStatus.SUCCEEDED,
            now,
            bank_transaction_id=result.transaction_id,
            payment_id=applied.payment_id,
        )
        await uow.agreements.set_failed_runs(agreement.agreement_id, 0, now)
        summary.succeeded += 1
        log.info("deduction_succeeded", attempt_id=attempt_id, payment_id=applied.payment_id, outcome=applied.outcome)
        return
    await uow.deductions.finish_attempt(
        attempt_id, AttemptStatus.FAILED, now, failure_reason=result.refusal or "REFUSED"
    )
    await uow.orders.expire_now(order_id, now)  # the items are free for the next run or an ordinary order
    summary.failed += 1
    log.warning("deduction_refused", attempt_id=attempt_id, reason=result.refusal)
    if agreement.status is not AgreementStatus.ACTIVE:
        return
    failed_runs, fall_back = after_failed_run(agreement.failed_deduction_runs, config.max_failed_runs)
    await uow.agreements.set_failed_runs(agreement.agreement_id, failed_runs, now)
    if fall_back:
        await uow.agreements.set_status(agreement.agreement_id, AgreementStatus.SUSPENDED, now)
        await services.notifier.notify(
            Message(
                message_id=f"deduction-fallback:{attempt_id}",
                recipient_id_number=agreement.payer_id_number,
                kind="DEDUCTION_FALLBACK",
                text=fallback_text(agreement.insured_name, Fen(result.amount_fen), failed_runs),
            ),
            now,
        )
        summary.suspended.append(agreement.agreement_id)
        log.warning("agreement_suspended", agreement_id=agreement.agreement_id, failed_runs=failed_runs)
