"""A channel simulator as an HTTP server (issue 21 item 3): a local WeChat Pay, Alipay or UnionPay
gateway that holds its private keys, takes a "pay" from a test or the CLI, sends the signed callback to
our callback URL on the channel's retry schedule (ledger.RETRIES, compressed by --time-scale) with the
faults asked for (drop, delay, duplicate, reorder, lost answers), and answers the channel's published
order query, close and refund APIs (apis.py; documents cited there and in services/collection/gateways/
channel_apis/).

    python -m ops.channel_sim.server --channel wechat --port 8701 --callback-url http://127.0.0.1:8700/wechat \
        [--keys .make/channel-keys] [--time-scale 0.01] [--drop 0.5] [--duplicate 0.1] [--delay 30] \
        [--reorder] [--lose-answer 0.1] [--lose-api-answer 0.1]

POST /sim/pay {"order_id": ..., "amount_fen": ...} pays an order as a payer would (409 if the order is
closed); GET /sim/stats counts callbacks sent and answered. In-process: `ChannelServer(...)`, `await
server.start()`, `await server.pay(order_id, amount)`; `callback_ssl=` the context that trusts an HTTPS
callback URL's certificate; `pay(..., notify=False)` then `notify(order_id)`: a callback sent late.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

from ops.channel_sim import apis
from ops.channel_sim.dev_keys import DEFAULT_DIR, ensure_dev_keys, load_simulators
from ops.channel_sim.ledger import RETRIES, Faults, Ledger, PayRefused, SimTrade
from ops.channel_sim.merchant_keys import MerchantPublic, ensure_merchant_keys, load_merchant_public
from services.collection.domain.model import Channel
from services.common.clock import Clock, SystemClock, clock_from_file

Callback = tuple[dict[str, str], bytes]
REORDER_SPREAD_SECONDS = 30.0
CALLBACK_TIMEOUT_SECONDS = 5.0
# A Retry-After the callback endpoint answers (HTTP's RetryInfo) is stretched by a random 0-50 %.
RETRY_AFTER_JITTER = 0.5


def retry_after(value: str | None) -> float | None:
    """The seconds of a Retry-After header in its delta-seconds form (RFC 9110 10.2.3); else None."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= 24 * 3600 else None


@dataclass
class Stats:
    sent: int = 0
    answered: int = 0
    dropped: int = 0
    gave_up: int = 0
    delivered: set[str] = field(default_factory=set)  # orders whose callback was answered


class ChannelServer:
    def __init__(
        self,
        family: str,
        signer: apis.Signer,
        merchant: MerchantPublic,
        callback_url: str,
        *,
        clock: Clock | None = None,
        faults: Faults | None = None,
        time_scale: float = 1.0,
        ledger: Ledger | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_ssl: ssl.SSLContext | None = None,
    ) -> None:
        self.family, self.signer, self.merchant, self.callback_url = family, signer, merchant, callback_url
        self.clock, self.faults, self.time_scale = clock or SystemClock(), faults or Faults(), time_scale
        self.ledger, self.host, self.port = ledger or Ledger(), host, port
        # Whom an https callback URL is trusted as (None: the system's trust store).
        self.callback_ssl = callback_ssl
        self.stats = Stats()
        self._held = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._deliveries: dict[str, asyncio.Task[None]] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._lose_answers])
        app.router.add_post("/sim/pay", self._pay_route)
        app.router.add_get("/sim/stats", self._stats_route)
        apis.add_routes(app, self)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_SECONDS),
            connector=aiohttp.TCPConnector(ssl=self.callback_ssl if self.callback_ssl is not None else True),
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    async def pay(
        self,
        order_id: str,
        amount_fen: int,
        paid_at: dt.datetime | None = None,
        *,
        transaction_id: str = "",
        notify: bool = True,
        faults: Faults | None = None,
    ) -> SimTrade:
        """The payer pays at the channel; its callback is sent (or not: the faults, this payment's own
        when given) on the schedule, or not yet with `notify=False` (then `notify(order_id)`).
        `transaction_id`: the channel's own id for it (one made up if empty)."""
        before = self.ledger.trades.get(order_id)
        already = before is not None and before.paid_at is not None
        trade = self.ledger.pay(order_id, amount_fen, paid_at or self.clock.now(), transaction_id)
        if notify and not already:
            self._deliveries[order_id] = self._spawn(self._deliver(trade, faults or self.faults))
        return trade

    def notify(self, order_id: str, faults: Faults | None = None) -> None:
        """Starts sending the callback of an order paid with `notify=False` (the faults still apply)."""
        trade = self.ledger.trades[order_id]
        assert trade.paid_at is not None, f"order {order_id} is not paid here"
        self._deliveries[order_id] = self._spawn(self._deliver(trade, faults or self.faults))

    async def delivered(self, order_id: str) -> None:
        """Waits until that order's callback is answered, dropped or given up (the channel is done)."""
        await asyncio.shield(self._deliveries[order_id])

    def release_held(self) -> None:
        self._held.set()

    async def idle(self) -> None:
        """Waits until every callback is delivered or given up."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(self, trade: SimTrade, faults: Faults) -> None:
        if self.ledger.chance(faults.drop):
            self.stats.dropped += 1
            return
        if faults.hold:
            await self._held.wait()
        wait = faults.delay_seconds
        if faults.reorder:
            wait += self.ledger.random.uniform(0, REORDER_SPREAD_SECONDS)
        told: float | None = None
        for interval in (wait, *RETRIES[self.family]):
            pause = interval * self.time_scale
            if told is not None:  # the endpoint said when to come back: not sooner, with jitter (issue 22)
                pause = max(pause, told * (1 + RETRY_AFTER_JITTER * self.ledger.random.random()))
            await asyncio.sleep(pause)  # the channel's retry schedule
            copies = 2 if self.ledger.chance(faults.duplicate) else 1
            results = await asyncio.gather(*(self._send(trade, faults) for _ in range(copies)))
            if any(ok for ok, _ in results):
                self.stats.delivered.add(trade.order_id)
                return
            told = max((after for _, after in results if after is not None), default=None)
        self.stats.gave_up += 1

    async def _send(self, trade: SimTrade, faults: Faults) -> tuple[bool, float | None]:
        """Whether the callback was answered as delivered, and the Retry-After it was told if not."""
        assert trade.paid_at is not None and self._session is not None
        headers, body = self.signer.callback(trade, self.clock.now())
        self.stats.sent += 1
        try:
            async with self._session.post(self.callback_url, headers=headers, data=body) as response:
                text = await response.text()
                ok = apis.callback_answered(self.family, response.status, text)
                after = retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError):
            return False, None
        if ok and self.ledger.chance(faults.lose_answer):
            return False, None
        self.stats.answered += ok
        return ok, None if ok else after

    @web.middleware
    async def _lose_answers(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        lose = not request.path.startswith("/sim/") and self.ledger.chance(self.faults.lose_api_answer)
        if lose and request.transport is not None:
            request.transport.close()  # done, but the caller never hears of it
        return response

    async def _pay_route(self, request: web.Request) -> web.Response:
        document = await request.json()
        try:
            trade = await self.pay(str(document["order_id"]), int(document["amount_fen"]))
        except PayRefused as refused:
            return web.json_response({"error": str(refused)}, status=409)
        return web.json_response({"order_id": trade.order_id, "transaction_id": trade.transaction_id})

    async def _stats_route(self, request: web.Request) -> web.Response:
        del request
        s = self.stats
        return web.json_response(
            {
                "sent": s.sent,
                "answered": s.answered,
                "dropped": s.dropped,
                "gave_up": s.gave_up,
                "delivered": len(s.delivered),
            }
        )


def server_from_keys(
    family: str, keys: Path, callback_url: str, bank_channel: Channel = Channel.BANK_APP, **options: object
) -> ChannelServer:
    """A simulator with the development keys under `keys` (made if missing)."""
    ensure_dev_keys(keys)
    ensure_merchant_keys(keys)
    sims = load_simulators(keys)
    channel = {"wechat": Channel.WECHAT, "alipay": Channel.ALIPAY}.get(family, bank_channel)
    signer = apis.signer_for(family, sims, channel)
    return ChannelServer(family, signer, load_merchant_public(keys, channel), callback_url, **options)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channel", choices=sorted(RETRIES), required=True)
    parser.add_argument("--bank-channel", default=Channel.BANK_APP.value, help="the UnionPay-style channel served")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--callback-url", required=True)
    parser.add_argument("--keys", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies every retry interval")
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before a callback's first attempt")
    parser.add_argument("--reorder", action="store_true")
    parser.add_argument("--lose-answer", type=float, default=0.0)
    parser.add_argument("--lose-api-answer", type=float, default=0.0)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--ca", type=Path, help="the CA an https callback URL is trusted by (make certs' ca.pem)")
    args = parser.parse_args(argv)
    faults = Faults(args.drop, args.duplicate, args.delay, args.reorder, args.lose_answer, args.lose_api_answer)
    server = server_from_keys(
        args.channel,
        args.keys,
        args.callback_url,
        Channel(args.bank_channel),
        clock=clock_from_file(os.environ.get("MEDINS_CLOCK_FILE")),
        faults=faults,
        time_scale=args.time_scale,
        ledger=Ledger(args.seed),
        host=args.host,
        port=args.port,
        callback_ssl=ssl.create_default_context(cafile=str(args.ca)) if args.ca else None,
    )

    async def run() -> None:
        await server.start()
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
