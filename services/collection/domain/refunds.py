"""The refund state machine (退费):

PENDING / FAILED --claimed--> SUBMITTING --gateway accepted--> SUBMITTED --channel: succeeded--> SUCCEEDED
                                   └-----gateway refused / channel: failed------> FAILED --retry--> ...
FAILED (after the last attempt) --> MANUAL_HANDLING --officer: mark succeeded / retry-->

The gateway is called with no transaction open: SUBMITTING records the intent with a lease; a refund
left SUBMITTING by a crash is claimed again when the lease runs out, and the channel deduplicates by
refund id, so a crash between any two steps resolves on the next pass.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.collection.domain.model import (
    Channel,
    EnrollmentState,
    FeeType,
    ItemStatus,
    PaymentOutcome,
    RefundReason,
    RefundStatus,
)
from services.common.errors import FailedPrecondition
from services.common.money import Fen
from services.common.periods import DateRange

# Every refund starts here, whoever raises it (the payment intake, a request, a refused grant).
INITIAL_STATUS = RefundStatus.PENDING
# A refund in this state no longer counts as the payment's refund: another may be raised (the partial
# unique index refunds_one_live_per_payment says the same).
NOT_LIVE = RefundStatus.FAILED
MAX_ATTEMPTS = 5
CLAIM_LEASE = dt.timedelta(minutes=2)
CLAIMABLE = frozenset({RefundStatus.PENDING, RefundStatus.SUBMITTING, RefundStatus.FAILED})
AWAITING_CHANNEL = frozenset({RefundStatus.SUBMITTING, RefundStatus.SUBMITTED})
_BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2))


def is_refundable(outcome: PaymentOutcome, reversed_: bool) -> bool:
    """Only money applied to items and not yet reversed can be sent back (on request, or because
    insurance refused the coverage it paid for, R14a)."""
    return outcome is PaymentOutcome.APPLIED and not reversed_


@dataclass(frozen=True)
class PaymentToRefund:
    """A payment as a refund sees it: what it was, what it moved, whether it was reversed already."""

    payment_id: str
    order_id: str | None  # none for a subsidy settlement
    outcome: PaymentOutcome
    amount_fen: Fen
    channel: Channel
    reversed_at: dt.datetime | None

    @property
    def refundable(self) -> bool:
        return is_refundable(self.outcome, self.reversed_at is not None)


@dataclass(frozen=True)
class PaidItem:
    """An item a payment paid, as a succeeded refund gives it back (R14)."""

    payable_item_id: str
    enrollment_id: str
    resident_id_number: str
    insurance_year: int
    fee_type: FeeType
    amount_fen: Fen
    coverage: DateRange


@dataclass(frozen=True)
class NewRefund:
    """A refund row as it is first written, by whichever path raises it (the payment intake, a
    request, a refused grant): the one definition of a new refund's contents."""

    refund_id: str
    payment_id: str
    channel: Channel
    amount_fen: Fen
    reason: RefundReason
    raised_at: dt.datetime
    requested_by: str | None = None
    note: str | None = None
    status: RefundStatus = INITIAL_STATUS


def new_refund(
    refund_id: str,
    payment: PaymentToRefund,
    reason: RefundReason,
    now: dt.datetime,
    *,
    requested_by: str | None = None,
    note: str | None = None,
) -> NewRefund | None:
    """The refund of this payment's money, or None when the payment is not refundable (see is_refundable)."""
    if not payment.refundable:
        return None
    return NewRefund(
        refund_id, payment.payment_id, payment.channel, payment.amount_fen, reason, now, requested_by, note
    )


def after_failure(attempts: int, now: dt.datetime) -> tuple[RefundStatus, dt.datetime]:
    """Where a refund goes after its `attempts`-th failed submission, and when to try again."""
    if attempts >= MAX_ATTEMPTS:
        return RefundStatus.MANUAL_HANDLING, now
    return RefundStatus.FAILED, now + _BACKOFF[min(attempts, len(_BACKOFF)) - 1]


def check_result_expected(status: RefundStatus, refund_id: str) -> None:
    """A channel reports results only for refunds it was sent (its answer may beat our record of the call)."""
    if status not in AWAITING_CHANNEL:
        raise FailedPrecondition(
            "REFUND_NOT_SUBMITTED",
            f"refund {refund_id} is {status}, not waiting for a channel result",
            "该退费不在等待渠道结果状态",
            metadata={"refund_id": refund_id, "status": status},
        )


def check_manual(status: RefundStatus, refund_id: str) -> None:
    if status is not RefundStatus.MANUAL_HANDLING:
        raise FailedPrecondition(
            "REFUND_NOT_IN_MANUAL_HANDLING",
            f"refund {refund_id} is {status}, not in manual handling",
            "该退费不在人工处理状态",
            metadata={"refund_id": refund_id, "status": status},
        )


def item_status_after_refund(enrollment_state: str) -> ItemStatus:
    """An item whose payment went back is owed again, unless its enrollment was stopped meanwhile (R11, R14a)."""
    return ItemStatus.CANCELLED if enrollment_state == EnrollmentState.STOPPED else ItemStatus.UNPAID
