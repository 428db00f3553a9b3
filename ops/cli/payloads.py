"""Channel callbacks as each channel sends them, for `medins pay`: built and signed by the channel
simulators (ops/channel_sim) with the development keys, so what `medins pay` sends goes through the
service's real verification (R42); a unit test verifies every channel's callback with those keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

from ops.channel_sim.dev_keys import load_simulators
from services.collection.channels import formats
from services.collection.channels.keys import UNIONPAY_CHANNELS
from services.collection.domain.model import Channel

Callback = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class ChannelPayment:
    """What a channel reports: its transaction, our order, the amount and when the money moved."""

    order_id: str
    amount_fen: int
    paid_at: dt.datetime
    transaction_id: str
    # The family mutual-aid account's holder (whose account paid), for that channel only.
    holder_id_number: str = ""


def callback(channel: Channel, payment: ChannelPayment, keys: Path, *, sent_at: dt.datetime | None = None) -> Callback:
    """The headers and body `channel` sends for `payment`, signed by its simulator with the keys under
    `keys` (`make channel-keys`): WeChat Pay v3 headers over an encrypted resource, Alipay's RSA2 form,
    UnionPay's 5.1.0 form, our own format under the channel's own key (R42)."""
    sims = load_simulators(keys)
    args = (payment.order_id, payment.amount_fen, payment.transaction_id, payment.paid_at)
    if channel is Channel.WECHAT:
        return sims.wechat.build_callback(*args, sent_at=sent_at)
    if channel is Channel.ALIPAY:
        return sims.alipay.build_callback(*args)
    if channel in UNIONPAY_CHANNELS:
        return sims.unionpay[channel].build_callback(*args)
    return replace(sims.own[channel], holder_id_number=payment.holder_id_number).build_callback(*args)


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
