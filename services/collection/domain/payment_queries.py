"""Asking the channels about orders whose notification may be lost (R43): which orders, what to ask,
and what an answer settles. Pure: the worker (services/collection/payment_query.py) does the I/O.

- A pending order is asked (order query) on a back-off from its first pass on (10 s, 30 s, 2 min,
  10 min, 30 min, then hourly), so a payment whose notification was lost is applied within minutes,
  and once more `near` before its expiry, whatever the back-off says, so a payer who paid at the last
  minute is too. A one-day school order is asked about thirty times, a 30-minute order about six.
- An expired order is closed at the channel (so it can no longer be paid there) for `lookback` after
  its expiry; if the payer paid first, the channel says so and the payment is applied as a notification
  would be (R21-R23): "already paid" on close means apply, not refund. Closed or applied, never both.
- An order whose callback was refused (a signature or format the intake could not accept) in the last
  `lookback` is asked too: the channel's own answer is signed and says what happened.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from services.collection.domain.model import NotificationOutcome, OrderStatus

DEFAULT_NEAR = dt.timedelta(seconds=30)
DEFAULT_LOOKBACK = dt.timedelta(hours=48)
# How soon an order is asked again when the channel said "not paid" or did not answer.
ASK_AGAIN = (
    dt.timedelta(seconds=10),
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),
)
FAILED_CALLBACKS = frozenset({NotificationOutcome.SIGNATURE_INVALID, NotificationOutcome.MALFORMED})
PENDING, EXPIRED = OrderStatus.PENDING, OrderStatus.EXPIRED


class Source(enum.StrEnum):
    QUERY = "QUERY"
    CLOSE = "CLOSE"


@dataclass(frozen=True)
class Candidate:
    order_id: str
    status: OrderStatus
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class Window:
    """Pending orders (each on its back-off), and orders expired, or with a refused callback, since `since`."""

    now: dt.datetime
    near_expiry: dt.datetime
    since: dt.datetime


def window(now: dt.datetime, near: dt.timedelta = DEFAULT_NEAR, lookback: dt.timedelta = DEFAULT_LOOKBACK) -> Window:
    return Window(now, now + near, now - lookback)


def source_for(candidate: Candidate, now: dt.datetime) -> Source:
    """An order past its expiry is closed (whatever its status says yet: order expiry may not have run);
    one still payable is only asked."""
    return Source.CLOSE if candidate.expires_at <= now else Source.QUERY


def next_ask(asks: int, now: dt.datetime, expires_at: dt.datetime, near: dt.timedelta = DEFAULT_NEAR) -> dt.datetime:
    """When to ask again after `asks` asks: on the back-off, but never past the moment the order comes
    within `near` of its expiry (the last-minute payer's ask) nor past its expiry (the close)."""
    later = now + ASK_AGAIN[min(asks, len(ASK_AGAIN) - 1)]
    return next((moment for moment in (expires_at - near, expires_at) if now < moment < later), later)
