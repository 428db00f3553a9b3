"""A channel simulator that behaves under overload (issue 22, R16): a callback answered 503 with a
Retry-After (HTTP's RetryInfo) is sent again no sooner than it was told, with jitter, even when its
channel's own schedule would come back sooner."""

from __future__ import annotations

import datetime as dt
import time

from aiohttp import web

from ops.channel_sim.server import retry_after
from services.common.clock import FixedClock
from tests.channel_api_fixtures import wired

TOLD_SECONDS = 0.3


def test_retry_after_reads_delta_seconds_only() -> None:
    assert retry_after("2") == 2.0 and retry_after("0.25") == 0.25
    assert retry_after(None) is None and retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert retry_after("-1") is None and retry_after("inf") is None and retry_after("nan") is None


async def test_a_callback_told_to_retry_after_is_not_sent_again_sooner() -> None:
    arrivals: list[float] = []

    async def busy_once(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        if len(arrivals) == 1:
            return web.Response(status=503, headers={"Retry-After": str(TOLD_SECONDS)}, text='{"code": "FAIL"}')
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/wechat", busy_once)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        clock = FixedClock(dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC))
        # WeChat Pay's schedule, a thousand times faster: it would come back after 15 ms.
        async with wired("wechat", clock, f"http://127.0.0.1:{port}/wechat", time_scale=0.001) as w:
            await w.server.pay("9f1c0d52-3a4b-4c5d-8e6f-7a8b9c0d1e2f", 38000)
            await w.server.idle()
            assert w.server.stats.delivered == {"9f1c0d52-3a4b-4c5d-8e6f-7a8b9c0d1e2f"}
    finally:
        await runner.cleanup()
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= TOLD_SECONDS
