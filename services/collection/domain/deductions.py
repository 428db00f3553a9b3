"""Deduction runs under entrusted agreements (R27): what a run deducts, and what a bank's answer means."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from services.collection.domain.model import Channel, ItemStatus, PayableItem
from services.collection.domain.payments import ChannelPayment
from services.common.money import Fen


class AttemptStatus(enum.StrEnum):
    """A deduction sent to the bank: SENT before the call, UNKNOWN when its answer was lost (asked about
    again by its id, never sent anew), then SUCCEEDED or FAILED."""

    SENT = "SENT"
    UNKNOWN = "UNKNOWN"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


# An attempt whose outcome is not known yet; an agreement has at most one.
OPEN_ATTEMPT = (AttemptStatus.SENT, AttemptStatus.UNKNOWN)


@dataclass(frozen=True)
class OpenAttempt:
    attempt_id: str
    agreement_id: str
    order_id: str
    amount_fen: Fen
    status: AttemptStatus


def deductible(items: Sequence[PayableItem], today: dt.date) -> list[PayableItem]:
    """Every item the person still owes and can pay today, not already held by a pending order."""
    return [
        i for i in items if i.status is ItemStatus.UNPAID and i.pending_order_id is None and today <= i.payable_until
    ]


def deduction_payment(
    order_id: str, transaction_id: str, amount_fen: Fen, paid_at: dt.datetime, attempt_id: str
) -> ChannelPayment:
    """A bank's deduction success as a channel payment: from here on it is an ordinary payment (receipt,
    payment.confirmed, coverage). The bank's transaction id keys it, exactly like a channel notification
    of the same deduction would, so the two can never both count."""
    body = json.dumps(
        {
            "attempt_id": attempt_id,
            "order_id": order_id,
            "transaction_id": transaction_id,
            "amount_fen": amount_fen,
            "paid_at": paid_at.isoformat(),
        },
        sort_keys=True,
    ).encode()
    return ChannelPayment(
        channel=Channel.AGREEMENT_DEDUCTION,
        transaction_id=transaction_id,
        order_id=order_id,
        amount_fen=amount_fen,
        paid_at=paid_at,
        payload_sha256=hashlib.sha256(body).digest(),
    )


def fallback_text(insured_name: str, amount_fen: Fen, failed_runs: int) -> str:
    """What the payer is told when deductions stop (they pay through an ordinary order from now on)."""
    return (
        f"您为{insured_name}签订的委托扣款协议已连续{failed_runs}次扣款失败,已暂停自动扣款。"
        f"请通过微信、支付宝、银行等渠道缴纳{amount_fen // 100}.{amount_fen % 100:02d}元。"
    )
