"""Channel notifications as each channel writes them, for `medins pay`: the inverse of the parsers in
services/collection/channels/formats.py. A builder is chosen by the parser a channel is read with, so every
channel formats.py accepts has one, and a unit test reads every built payload back through formats.parse."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from services.collection.channels import formats
from services.collection.channels.signature import HmacSignatures
from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.money import yuan_text


@dataclass(frozen=True)
class ChannelPayment:
    """What a channel reports: its transaction, our order, the amount and when the money moved."""

    order_id: str
    amount_fen: int
    paid_at: dt.datetime
    transaction_id: str
    # The family mutual-aid account's holder (whose account paid), for that channel only.
    holder_id_number: str = ""


def wechat(p: ChannelPayment) -> bytes:
    """WeChat Pay v3's decrypted resource: integer fen, RFC 3339 time."""
    return json.dumps(
        {
            "out_trade_no": p.order_id,
            "transaction_id": p.transaction_id,
            "trade_state": "SUCCESS",
            "success_time": p.paid_at.astimezone(CST).isoformat(),
            "amount": {"total": p.amount_fen, "payer_total": p.amount_fen, "currency": "CNY"},
        },
        ensure_ascii=False,
    ).encode()


def alipay(p: ChannelPayment) -> bytes:
    """Alipay's asynchronous notification: form-encoded, yuan text, CST wall time."""
    return urlencode(
        {
            "out_trade_no": p.order_id,
            "trade_no": p.transaction_id,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": yuan_text(p.amount_fen),
            "gmt_payment": p.paid_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
        }
    ).encode()


def unionpay(p: ChannelPayment) -> bytes:
    """The UnionPay-style gateway of banks, ATMs, POS, social-security cards and deductions."""
    return json.dumps(
        {
            "orderId": p.order_id,
            "queryId": p.transaction_id,
            "txnAmt": str(p.amount_fen),
            "txnTime": p.paid_at.astimezone(CST).strftime("%Y%m%d%H%M%S"),
            "respCode": "00",
        }
    ).encode()


def native(p: ChannelPayment) -> bytes:
    """Our own shape (e-tax bureau, family mutual-aid account)."""
    document: dict[str, object] = {
        "order_id": p.order_id,
        "transaction_id": p.transaction_id,
        "amount_fen": p.amount_fen,
        "paid_at": p.paid_at.astimezone(CST).isoformat(),
    }
    if p.holder_id_number:
        document["holder_id_number"] = p.holder_id_number
    return json.dumps(document).encode()


BUILDERS: dict[formats.Parser, Callable[[ChannelPayment], bytes]] = {
    formats.wechat: wechat,
    formats.alipay: alipay,
    formats.unionpay: unionpay,
    formats.native: native,
}
# Every channel that sends payment notifications, in formats.py's order.
NOTIFYING: tuple[Channel, ...] = tuple(formats.PARSERS)
# Short names an operator may type for a channel besides its own.
ALIASES = {"BANK": Channel.BANK_APP, "ETAX": Channel.E_TAX, "FAMILY": Channel.FAMILY_MUTUAL_AID}


def channel_named(text: str) -> Channel:
    """wechat, alipay, bank-app (or bank), atm, ... -> the channel; ValueError naming the choices."""
    key = text.strip().upper().replace("-", "_")
    found = ALIASES.get(key) or next((c for c in NOTIFYING if c.value == key), None)
    if found is None:
        known = ", ".join(c.value.lower().replace("_", "-") for c in NOTIFYING)
        raise ValueError(f"unknown payment channel {text!r}; one of: {known} (bank = bank-app)")
    return found


def payload(channel: Channel, payment: ChannelPayment) -> bytes:
    """The notification body `channel` would send for `payment`."""
    return BUILDERS[formats.PARSERS[channel]](payment)


def sign(channel: Channel, body: bytes, secret: str) -> str:
    """The channel's signature over the body, by the hook the collection service verifies with."""
    return HmacSignatures(secret).sign(channel, body)
