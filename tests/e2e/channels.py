"""Test-side channels: what a channel reports (`Paid`), sent as that channel really sends it, signed by
its simulator (ops/channel_sim: WeChat Pay v3 headers over an AEAD-encrypted resource, Alipay's RSA2
form, UnionPay's 5.1.0 form with its certificate, our own format under each channel's own key), so every
end-to-end test goes through the real verification (R42).

The simulators' keys are made once per test run (`keys_root()`); the System fixture points the services
at their verify/ half. A WeChat Pay callback is signed at the time of the system's clock (the clock
file a System last set, `use_clock`): a channel signs when it calls, and each call again (a resend) is
signed again, with a fresh nonce, as WeChat Pay's retries are."""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from ops.channel_sim.dev_keys import Simulators, ensure_dev_keys, load_simulators
from services.collection.channels import own_format
from services.collection.channels.keys import OWN_FORMAT_CHANNELS, UNIONPAY_CHANNELS
from services.collection.domain.model import Channel
from services.common.clock import Clock, FileClock
from tests.e2e.requests import new_request_id

Callback = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class Paid:
    """A payment as a channel reports it, before it is put in that channel's shape and signed."""

    order_id: str
    amount_fen: int
    paid_at: dt.datetime
    transaction_id: str
    holder: str = ""  # the family account's holder (that channel only)


@functools.cache
def keys_root() -> Path:
    """This test run's channel keys (sim/ for the simulators, verify/ for the services)."""
    root = Path(tempfile.mkdtemp(prefix="medins-channel-keys-"))
    ensure_dev_keys(root)
    return root


def verify_dir() -> Path:
    return keys_root() / "verify"


@functools.cache
def simulators() -> Simulators:
    return load_simulators(keys_root())


_clock: list[Clock] = []


def use_clock(clock_file: Path) -> None:
    """Callbacks are signed at this clock's time from now on (the System whose clock was set last)."""
    _clock[:] = [FileClock(clock_file)]


def now(fallback: dt.datetime) -> dt.datetime:
    """The system's clock now (the clock file a System last set), else `fallback`."""
    return _now(fallback)


def _now(fallback: dt.datetime) -> dt.datetime:
    if _clock:
        try:
            return _clock[0].now()
        except (OSError, ValueError):
            pass
    return fallback


def wechat(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> Paid:
    return Paid(order_id, amount_fen, paid_at, transaction_id or f"4200{uuid.uuid4().hex[:24]}")


def alipay(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> Paid:
    return Paid(order_id, amount_fen, paid_at, transaction_id or f"2023{uuid.uuid4().hex[:24]}")


def bank(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> Paid:
    return Paid(order_id, amount_fen, paid_at, transaction_id or uuid.uuid4().hex[:21])


def family(
    order_id: str, amount_fen: int, paid_at: dt.datetime, holder: str, transaction_id: str | None = None
) -> Paid:
    return Paid(order_id, amount_fen, paid_at, transaction_id or uuid.uuid4().hex, holder)


def callback(channel: Channel, paid: Paid, *, sent_at: dt.datetime | None = None) -> Callback:
    """The headers and body `channel` sends for `paid`, signed by its simulator now."""
    sims = simulators()
    args = (paid.order_id, paid.amount_fen, paid.transaction_id, paid.paid_at)
    if channel is Channel.WECHAT:
        return sims.wechat.build_callback(*args, sent_at=sent_at or _now(paid.paid_at))
    if channel is Channel.ALIPAY:
        return sims.alipay.build_callback(*args)
    if channel in UNIONPAY_CHANNELS:
        return sims.unionpay[channel].build_callback(*args)
    if channel in OWN_FORMAT_CHANNELS:
        return replace(sims.own[channel], holder_id_number=paid.holder).build_callback(*args)
    raise ValueError(f"{channel} sends no notifications")


def body(channel: Channel, paid: Paid) -> bytes:
    """Only the body `channel` would send for `paid`, without what signs it (a forgery's start)."""
    return callback(channel, paid)[1]


def own_signature(channel: Channel, payload: bytes) -> str:
    """Our own format's Medins-Signature of `payload` under `channel`'s own key (e-tax, family)."""
    sim = simulators().own[channel]
    return own_format.sign(sim.key_id, sim.key, payload)


def request(
    channel: Channel, headers: dict[str, str], payload: bytes, *, request_id: str | None = None
) -> col.NotifyPaymentRequest:
    """NotifyPayment forwarding a channel's raw callback: its body and its headers."""
    return col.NotifyPaymentRequest(
        request_id=request_id or new_request_id(),
        channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel}"),
        payload=payload,
        headers=[col.NotificationHeader(name=name, content=value) for name, value in headers.items()],
    )


def notification(channel: Channel, payload: Paid | bytes, *, request_id: str | None = None) -> col.NotifyPaymentRequest:
    """`channel` calling: a `Paid` sent signed by its simulator; raw bytes sent as they are, signed in
    our own format for the channels that use it (e-tax, family account) and unsigned for the others."""
    if isinstance(payload, Paid):
        headers, raw = callback(channel, payload)
        return request(channel, headers, raw, request_id=request_id)
    headers = {"Medins-Signature": own_signature(channel, payload)} if channel in OWN_FORMAT_CHANNELS else {}
    return request(channel, headers, payload, request_id=request_id)


def forged(notification_request: col.NotifyPaymentRequest) -> col.NotifyPaymentRequest:
    """The same request with its signature replaced by one nobody made (every header that signs)."""
    signing = {"wechatpay-signature", "medins-signature"}
    forgery = col.NotifyPaymentRequest()
    forgery.CopyFrom(notification_request)
    for header in forgery.headers:
        if header.name.lower() in signing:
            header.content = "AAAA" * 86 + "==" if header.name.lower() == "wechatpay-signature" else "dev-1:" + "0" * 64
    return forgery
