"""R43: when the payment query worker asks a pending order again: on a back-off that ends hourly, and
always once `near` before its expiry and at its expiry, whatever the back-off says."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.payment_queries import DEFAULT_NEAR, next_ask

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
S, M, H = dt.timedelta(seconds=1), dt.timedelta(minutes=1), dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("asks", "now", "expires", "expected"),
    [
        (0, T0, T0 + 24 * H, T0 + 10 * S),  # first ask: soon
        (3, T0, T0 + 24 * H, T0 + 10 * M),
        (5, T0, T0 + 24 * H, T0 + H),  # then hourly
        (40, T0, T0 + 24 * H, T0 + H),
        (5, T0, T0 + 20 * M, T0 + 20 * M - DEFAULT_NEAR),  # the last-minute payer's ask comes first
        (5, T0 + 20 * M - DEFAULT_NEAR, T0 + 20 * M, T0 + 20 * M),  # then the close at expiry
        (0, T0 + 20 * M, T0 + 20 * M, T0 + 20 * M + 10 * S),  # expired: closing asked on the back-off
    ],
)
def test_the_next_ask(asks: int, now: dt.datetime, expires: dt.datetime, expected: dt.datetime) -> None:
    assert next_ask(asks, now, expires) == expected


def test_a_one_day_order_is_asked_about_thirty_times_before_it_expires() -> None:
    expires, now, asks = T0 + 24 * H, T0, 0
    while now < expires:
        now, asks = next_ask(asks, now, expires), asks + 1
    assert now == expires
    assert 25 <= asks <= 32
