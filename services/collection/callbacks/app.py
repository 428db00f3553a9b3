"""The callback endpoint's routes (R44): /callbacks/wechat, /callbacks/alipay,
/callbacks/unionpay/<channel> (bank_app, bank_counter, atm, pos, social_security_card,
agreement_deduction) and /callbacks/own/<channel> (e_tax, family_mutual_aid); /healthz and /metrics.

Each callback becomes the intake's Notification as it arrived — the raw body, the headers — from the
channel named by its path (the caller `channel:<name>`), with its request key taken from its channel
transaction (domain.intake.callback_key): a channel's resend is a replay. The intake verifies it with
that channel's own scheme (R42), decides and records it (R21b); the answer is the channel's (answers.py).
A body larger than any notification is answered 413 and stored, without its bytes. Callers outside the
allow-list are refused (403) before anything is read, and not stored: the allow-list says they are no
channel, and storing what any address on the internet sends would let anyone fill the system of record
(their log line keeps them). When too many notifications already wait for the database, a callback is
answered 503 with Retry-After, unstored, for the channel to send again on its schedule."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from medins.common.v1 import common_pb2
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.collection import payment_intake
from services.collection.callbacks import answers
from services.collection.channels import formats
from services.collection.channels.keys import OWN_FORMAT_CHANNELS, UNIONPAY_CHANNELS
from services.collection.channels.signature import NotificationVerifier
from services.collection.domain.intake import Notification
from services.collection.domain.model import Channel
from services.collection.notification_groups import GroupLimits, NotificationGroups
from services.common.clock import Clock
from services.common.errors import ResourceExhausted

log = structlog.get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A callback is a small form or JSON document; room for the headers' sake only.
MAX_BODY_BYTES = formats.MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class Intake:
    """What the intake needs: a unit of work per notification, the clock, the channels' verifiers, and
    the group commit (notification_groups.py) of the same."""

    uow: payment_intake.UowFactory
    clock: Clock
    verifier: NotificationVerifier
    skew: dt.timedelta
    limits: GroupLimits = field(default_factory=GroupLimits)
    groups: NotificationGroups = field(init=False)

    def __post_init__(self) -> None:
        groups = NotificationGroups(self.uow, self.clock, self.verifier, self.skew, self.limits)
        object.__setattr__(self, "groups", groups)


def routes() -> dict[str, tuple[str, Channel]]:
    """Every callback path, with its protocol family and channel."""
    paths = {"/callbacks/wechat": ("wechat", Channel.WECHAT), "/callbacks/alipay": ("alipay", Channel.ALIPAY)}
    paths |= {f"/callbacks/unionpay/{c.value.lower()}": ("unionpay", c) for c in UNIONPAY_CHANNELS}
    paths |= {f"/callbacks/own/{c.value.lower()}": ("own", c) for c in OWN_FORMAT_CHANNELS}
    return paths


def networks(allowed: Sequence[str]) -> tuple[Network, ...]:
    """The allow-list's networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)


def allowed(remote: str | None, allow: tuple[Network, ...]) -> bool:
    if not allow:
        return True
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    return any(address in network for network in allow)


def notification(channel: Channel, headers: Sequence[tuple[str, str]], body: bytes) -> Notification:
    number = common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel.value}")
    return Notification(
        channel=number,
        channel_label=channel.value,
        payload=body,
        headers=tuple(headers),
        caller=f"channel:{channel.value.lower()}",
        request_id=None,
        fingerprint=b"",
    )


def _respond(answer: answers.Answer, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=answer.status, body=answer.body, content_type=answer.content_type, headers=headers)


def make_app(intake: Intake, allow: tuple[Network, ...], stopping: list[bool] | None = None) -> web.Application:
    """The endpoint's application; `stopping[0]` set makes /healthz answer 503 (draining)."""
    state = stopping if stopping is not None else [False]

    def callback(family: str, channel: Channel) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not allowed(request.remote, allow):
                log.warning("callback_not_allowed", channel=channel.value, remote=request.remote)
                return _respond(answers.failure(family, 403, "not an allowed address"))
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return await too_large(request, family, channel)
            taken = notification(channel, list(request.headers.items()), body)
            try:
                outcome = await intake.groups.take_in(taken)
            except ResourceExhausted as busy:  # not stored: the channel sends it again on its schedule
                retry_after = {"Retry-After": str(math.ceil(busy.retry_after or 1))}
                return _respond(answers.failure(family, 503, "busy, send it again"), retry_after)
            delivered, status, why = answers.accepted(outcome)
            log.info("callback_answered", channel=channel.value, delivered=delivered, status=status, why=why)
            return _respond(answers.ANSWERS[family](delivered, status, why), answers.outcome_headers(outcome))

        return handle

    async def too_large(request: web.Request, family: str, channel: Channel) -> web.Response:
        # Stored like every callback (R21b), without the body it was too large to read.
        size = f"Content-Length {request.content_length}" if request.content_length is not None else "chunked"
        refusal = formats.malformed(f"larger than {MAX_BODY_BYTES} bytes ({size})")
        await payment_intake.record_edge_refusal(channel.value, b"", refusal, intake.uow, intake.clock)
        log.warning("callback_too_large", channel=channel.value, size=size)
        return _respond(answers.failure(family, 413, "larger than a notification can be"))

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(status=503 if state[0] else 200, text="stopping" if state[0] else "ok")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    for path, (family, channel) in routes().items():
        app.router.add_post(path, callback(family, channel))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app
