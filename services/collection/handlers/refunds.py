"""Refunds (退费): raised automatically for double, late or cancelled payments (R23) or on request;
submitted to the channel by the refund worker; settled by the channel's result or by an officer.
A succeeded refund reverses the payment and its receipt and publishes payment.refunded, which
withdraws the coverage that payment granted, if any (R14)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

import structlog

from services.collection import events
from services.collection.access import own_refund
from services.collection.domain.model import (
    Channel,
    ItemStatus,
    PaymentOutcome,
    Refund,
    RefundReason,
    RefundStatus,
)
from services.collection.domain.refunds import (
    CLAIM_LEASE,
    CLAIMABLE,
    PaymentToRefund,
    after_failure,
    check_manual,
    check_result_expected,
    item_status_after_refund,
    new_refund,
)
from services.collection.ports import CollectionUow, UowFactory
from services.common.clock import Clock
from services.common.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied, required
from services.common.identity import current_caller
from services.common.messaging import envelope as event_types
from services.common.pagination import PageRequest

log = structlog.get_logger(__name__)


class RefundGateway(Protocol):
    async def submit(self, refund: Refund) -> str:
        """Sends the refund to its channel; returns the channel's refund id. Raises on refusal."""
        ...


class SimulatedRefundGateway:
    """Stands in for the channels' refund APIs (WeChat Pay refunds, Alipay trade.refund, bank
    reversals): accepts every refund; the channel's result arrives later through NotifyRefundResult.
    Like the real ones it is idempotent by our refund id: the same refund sent twice is one refund."""

    async def submit(self, refund: Refund) -> str:
        return f"SIM-{refund.channel}-{refund.refund_id[:8]}"


async def load_refund(uow: CollectionUow, refund_id: str, *, for_update: bool = False) -> Refund:
    refund = await uow.refunds.get(refund_id, for_update=for_update)
    if refund is None:
        raise NotFound(
            "REFUND_NOT_FOUND",
            f"refund {refund_id} not found",
            "退费记录不存在",
            field="refund_id",
            metadata={"refund_id": refund_id},
        )
    return refund


async def request_refund(payment_id: str, requested_by: str, note: str, uow: CollectionUow, clock: Clock) -> Refund:
    """A refund of an applied payment on request; coverage is withdrawn when it succeeds."""
    officer = required(requested_by, "requested_by", "申请人")
    payment = await uow.refunds.payment_of(payment_id)
    if payment is None:
        raise NotFound("PAYMENT_NOT_FOUND", f"payment {payment_id} not found", "缴费记录不存在", field="payment_id")
    refund = new_refund(
        str(uuid.uuid4()), payment, RefundReason.REQUESTED, clock.now(), requested_by=officer, note=note.strip() or None
    )
    if refund is None:
        raise _not_refundable(payment)
    if not await uow.refunds.raise_refund(refund):
        raise AlreadyExists(
            "REFUND_EXISTS",
            f"payment {payment_id} already has a refund",
            "该缴费已有退费申请",
            metadata={"payment_id": payment_id},
        )
    return await load_refund(uow, refund.refund_id)


def _not_refundable(payment: PaymentToRefund) -> FailedPrecondition:
    reversed_ = " and reversed" if payment.reversed_at else ""
    return FailedPrecondition(
        "PAYMENT_NOT_REFUNDABLE",
        f"payment {payment.payment_id} is {payment.outcome}{reversed_}",
        "该缴费不可申请退费",
        metadata={"payment_id": payment.payment_id},
    )


def refunds_token(page: PageRequest, found: list[Refund]) -> str:
    """The token of the page after `found` (see list_refunds, which reads it back)."""
    return page.next_token((found[-1].created_at.isoformat(), found[-1].refund_id), len(found)) if found else ""


async def list_refunds(
    status: RefundStatus | None, page: PageRequest, uow: CollectionUow, *, payer: str | None = None
) -> list[Refund]:
    """Refunds oldest first, optionally of one status and of one payer's payments; the page token is
    refunds_token's."""
    cursor = page.cursor_of(2)
    return await uow.refunds.list_refunds(status, (cursor[0], cursor[1]) if cursor else None, page.size, payer=payer)


async def notify_refund_result(
    refund_id: str,
    channel_refund_id: str,
    succeeded: bool,
    failure_reason: str,
    uow: CollectionUow,
    clock: Clock,
) -> Refund:
    """The channel's answer to a submitted refund, from that refund's own channel only (R35, R41).
    Repeating a success is harmless."""
    now = clock.now()
    refund = await load_refund(uow, refund_id, for_update=True)
    denial = own_refund(current_caller(), refund.channel.value)
    if denial is not None:
        raise PermissionDenied(denial.reason, denial.message, denial.message_zh, metadata={"refund_id": refund_id})
    if refund.status is RefundStatus.SUCCEEDED and succeeded:
        return refund
    check_result_expected(refund.status, refund_id)
    if succeeded:
        await _finish(uow, refund, now, channel_refund_id=channel_refund_id.strip() or None)
    else:
        status, retry_at = after_failure(refund.attempts, now)
        await uow.refunds.set_state(
            refund_id, status, now, next_attempt_at=retry_at, failure_reason=failure_reason.strip() or "refused"
        )
        log.warning("refund_failed", refund_id=refund_id, status=status, attempts=refund.attempts)
    return await load_refund(uow, refund_id)


async def resolve_refund(
    refund_id: str, officer_id: str, mark_succeeded: bool, note: str, uow: CollectionUow, clock: Clock
) -> Refund:
    """An officer settles a refund in manual handling: returned outside the system, or sent again."""
    now = clock.now()
    officer = required(officer_id, "officer_id", "经办人")
    refund = await load_refund(uow, refund_id, for_update=True)
    check_manual(refund.status, refund_id)
    if mark_succeeded:
        await _finish(uow, refund, now)
    else:
        await uow.refunds.set_state(refund_id, RefundStatus.PENDING, now, next_attempt_at=now)
    log.info("refund_resolved", refund_id=refund_id, officer=officer, mark_succeeded=mark_succeeded, note=note)
    return await load_refund(uow, refund_id)


async def _finish(
    uow: CollectionUow, refund: Refund, now: dt.datetime, *, channel_refund_id: str | None = None
) -> None:
    """The money is back with the payer: reverse the payment and its receipt, return a family account's
    money to the account (R20a), and tell insurance (R14, R23)."""
    payment = await uow.refunds.payment_of(refund.payment_id)
    assert payment is not None
    items = await uow.refunds.paid_items(refund.payment_id) if payment.outcome is PaymentOutcome.APPLIED else []
    states = await uow.refunds.enrollment_states([i.enrollment_id for i in items])
    await uow.refunds.set_state(refund.refund_id, RefundStatus.SUCCEEDED, now, channel_refund_id=channel_refund_id)
    await uow.refunds.reverse_payment(
        refund.payment_id,
        {i.payable_item_id: item_status_after_refund(states.get(i.enrollment_id, "")) for i in items},
        f"REFUNDED: {refund.reason}",
        now,
    )
    if refund.channel is Channel.FAMILY_MUTUAL_AID:
        await uow.payments.credit_family_account(refund.payment_id, refund.refund_id, refund.amount_fen, now)
    await uow.outbox.add(
        event_types.PAYMENT_REFUNDED,
        events.payment_refunded(
            refund_id=refund.refund_id,
            payment_id=refund.payment_id,
            amount_fen=refund.amount_fen,
            refunded_at=now,
            items=[
                events.paid_item(
                    item_id=i.payable_item_id,
                    enrollment_id=i.enrollment_id,
                    resident_id_number=i.resident_id_number,
                    insurance_year=i.insurance_year,
                    fee_type=i.fee_type,
                    amount_fen=i.amount_fen,
                    coverage=(i.coverage.start, i.coverage.end),
                )
                for i in items
            ],
        ),
        occurred_at=now,
    )
    log.info("refund_succeeded", refund_id=refund.refund_id, payment_id=refund.payment_id, amount_fen=refund.amount_fen)


finish_refund = _finish  # for refund_results.py, which settles refunds the same way


async def refund_refused_payment(
    payment_id: str, item_ids: list[str], reason: str, uow: CollectionUow, clock: Clock
) -> str | None:
    """R14a: insurance could not grant coverage for this payment, so its money goes back automatically
    and the items say why. Returns the refund raised, or None when one was under way already or the
    payment moved no money (a subsidy settlement is undone instead)."""
    now = clock.now()
    note = f"COVERAGE_REFUSED: {reason}"
    payment = await uow.refunds.payment_of(payment_id)
    if payment is None:
        raise LookupError(f"payment {payment_id} is not recorded here")
    await uow.refunds.note_items(item_ids, note, now)
    refund = new_refund(str(uuid.uuid4()), payment, RefundReason.COVERAGE_REFUSED, now, note=note)
    if refund is None:
        return None
    if refund.amount_fen == 0:  # settled by a subsidy: no money to return, the item is simply cancelled
        await uow.refunds.reverse_payment(payment_id, dict.fromkeys(item_ids, ItemStatus.CANCELLED), note, now)
        return None
    if not await uow.refunds.raise_refund(refund):
        return None
    refund_id = refund.refund_id
    log.warning("coverage_refused_refund_raised", payment_id=payment_id, refund_id=refund_id, reason=reason)
    return refund_id


async def submit_due_refunds(uow_factory: UowFactory, clock: Clock, batch_size: int, gateway: RefundGateway) -> int:
    """The refund worker's step. The gateway is called with no transaction open: claim (SUBMITTING,
    committed), call, record the result. A crash between any two steps leaves the refund SUBMITTING
    until its lease runs out, then it is claimed and sent again; channels deduplicate by refund id.
    A family account refund needs no channel: the money goes back to the account at once (R20a)."""
    now = clock.now()
    async with uow_factory() as uow:
        claimed = await uow.refunds.claim_due(CLAIMABLE, now, now + CLAIM_LEASE, batch_size)
        await uow.commit()
    for refund in claimed:
        if refund.channel is Channel.FAMILY_MUTUAL_AID:
            await _record(uow_factory, refund, clock, channel_refund_id=f"FAMILY-{refund.refund_id}", settled=True)
            continue
        try:
            channel_refund_id = await gateway.submit(refund)
        except Exception as exc:  # the channel refused or is unreachable: retry later, then by hand
            await _record(uow_factory, refund, clock, failure=str(exc)[:500])
            continue
        await _record(uow_factory, refund, clock, channel_refund_id=channel_refund_id)
    return len(claimed)


async def _record(
    uow_factory: UowFactory,
    claimed: Refund,
    clock: Clock,
    *,
    channel_refund_id: str | None = None,
    failure: str | None = None,
    settled: bool = False,
) -> None:
    """Records a gateway call's result, unless the refund moved on meanwhile (the channel's answer came
    first, or another worker took it over after the lease)."""
    now = clock.now()
    async with uow_factory() as uow:
        refund = await load_refund(uow, claimed.refund_id, for_update=True)
        if refund.status is not RefundStatus.SUBMITTING or refund.attempts != claimed.attempts:
            return
        if settled:
            await _finish(uow, refund, now, channel_refund_id=channel_refund_id)
        elif failure is not None:
            status, retry_at = after_failure(refund.attempts, now)
            await uow.refunds.set_state(refund.refund_id, status, now, next_attempt_at=retry_at, failure_reason=failure)
            log.warning("refund_submission_failed", refund_id=refund.refund_id, status=status, error=failure)
        else:
            await uow.refunds.set_state(
                refund.refund_id, RefundStatus.SUBMITTED, now, channel_refund_id=channel_refund_id
            )
            log.info("refund_submitted", refund_id=refund.refund_id, channel=refund.channel)
        await uow.commit()
