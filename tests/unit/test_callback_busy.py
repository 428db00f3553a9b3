"""R44 with issue 23's bound: a callback that finds the intake's queue full is answered 503 with
Retry-After in its channel's own protocol, and nothing reaches the database (the channel retries)."""

from __future__ import annotations

import datetime as dt
from typing import cast

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.collection.callbacks.app import Intake, make_app
from services.collection.channels.signature import NotificationVerifier
from services.collection.domain.intake import IntakeOutcome, Notification
from services.collection.notification_groups import BUSY_RETRY_AFTER_SECONDS, GroupLimits, NotificationGroups
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import FixedClock
from services.common.errors import ResourceExhausted


class Full(NotificationGroups):
    """Groups whose waiting bound is reached: every notification is answered busy, none stored."""

    def __init__(self) -> None:
        self.seen = 0

    async def take_in(self, notification: Notification) -> IntakeOutcome:
        self.seen += 1
        raise ResourceExhausted("INTAKE_BUSY", "busy", "繁忙", retry_after=BUSY_RETRY_AFTER_SECONDS)


def never_opened() -> CollectionUnitOfWork:
    raise AssertionError("a busy answer opens no transaction")


@pytest.mark.parametrize(
    ("path", "body", "status", "answer"),
    [
        ("/callbacks/wechat", b"{}", 503, b'{"code": "FAIL", "message": "busy, send it again"}'),
        ("/callbacks/alipay", b"a=1", 200, b"fail"),  # Alipay's protocol: anything but "success" is resent
        ("/callbacks/unionpay/bank_app", b"a=1", 503, b"fail"),
    ],
)
async def test_a_callback_beyond_the_bound_is_answered_busy_in_its_protocol(
    path: str, body: bytes, status: int, answer: bytes
) -> None:
    clock = FixedClock(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    unused = cast("NotificationVerifier", None)  # a busy answer verifies nothing either
    intake = Intake(never_opened, clock, unused, dt.timedelta(minutes=5), GroupLimits())
    full = Full()
    object.__setattr__(intake, "groups", full)
    async with TestClient(TestServer(make_app(intake, ()))) as client:
        got = await client.post(path, data=body)
        assert (got.status, await got.read()) == (status, answer)
        assert got.headers["Retry-After"] == "1"
    assert full.seen == 1
