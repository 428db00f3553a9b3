"""The port the payment query worker and the refund worker use to talk to a channel (R43, R23).

Each channel family's client (wechat.py, alipay.py, unionpay.py) signs its requests with our merchant key
and verifies every answer with the channel's platform key before anything is believed; an answer that
does not verify, or no answer, raises ChannelApiError and nothing is decided on it."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol

from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment
from services.common.money import Fen


class TradeState(enum.StrEnum):
    PAID = "PAID"  # money taken: apply it as a notification would be (R21-R23)
    NOT_PAID = "NOT_PAID"  # open at the channel, not paid (yet)
    CLOSED = "CLOSED"  # closed at the channel: it can no longer be paid
    NOT_FOUND = "NOT_FOUND"  # the channel knows no such order (never opened there)


class RefundState(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PROCESSING = "PROCESSING"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class TradeAnswer:
    state: TradeState
    payment: ChannelPayment | None = None  # set when PAID
    detail: str = ""  # the channel's own state or code, for the record


@dataclass(frozen=True)
class RefundRequest:
    """What a channel's refund API needs: our refund id (its idempotency key at the channel), the
    original order and transaction, the amount back and the original total."""

    refund_id: str
    order_id: str
    transaction_id: str
    amount_fen: Fen
    total_fen: Fen
    reason: str


@dataclass(frozen=True)
class RefundAnswer:
    state: RefundState
    channel_refund_id: str = ""
    detail: str = ""


class ChannelApiError(Exception):
    """No answer, or an answer that cannot be believed (signature, shape): ask again later."""


class ChannelApi(Protocol):
    """One channel family's order and refund APIs, for the channels it serves."""

    channels: frozenset[Channel]

    async def query_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer: ...

    async def close_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        """Closes the order at the channel; the answer is the order's state after: CLOSED (or NOT_FOUND),
        or PAID with the payment when the payer paid first ("already paid" means apply, not refund)."""
        ...

    async def refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer: ...

    async def query_refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer: ...
