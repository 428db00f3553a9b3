"""Our own signed notification format (R42), for the channels that have no public protocol of their
own: the e-tax bureau and the family mutual-aid account. The body is formats.native's JSON; the
signature is HMAC-SHA256 over the raw body under that channel's own key, sent as

    Medins-Signature: <key id>:<hex of the HMAC>

Each channel has its own keys (keys.OwnFormatKeys, by key id, several live at once for rotation):
nothing is derived from a secret shared between channels, so one channel's key signs for no other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from services.collection.channels import formats
from services.collection.channels.keys import OwnFormatKeys
from services.collection.channels.refusals import signature_invalid
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment

HEADER = "medins-signature"
_SIGNATURE = re.compile(r"([A-Za-z0-9_.-]{1,64}):([0-9a-fA-F]{64})")


def sign(key_id: str, key: bytes, body: bytes) -> str:
    """The Medins-Signature value of `body` under the key `key_id`."""
    return f"{key_id}:{hmac.new(key, body, hashlib.sha256).hexdigest()}"


def verify_signature(channel: Channel, keys: OwnFormatKeys | None, signature: str, body: bytes) -> None:
    """Raises unless `signature` is the HMAC of `body` under one of `channel`'s live keys."""
    if keys is None or not keys.keys:
        raise signature_invalid(channel, f"no keys are configured for {channel}")
    match = _SIGNATURE.fullmatch(signature.strip())
    if match is None:
        raise signature_invalid(channel, "the signature is not <key id>:<64 hex digits>")
    key = keys.keys.get(match[1])
    if key is None:
        raise signature_invalid(channel, f"no live key has id {match[1]}")
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, match[2].lower().encode()):
        raise signature_invalid(channel, "the signature does not verify")


def verify_notification(
    channel: Channel, keys: OwnFormatKeys | None, headers: Mapping[str, str], body: bytes
) -> ChannelPayment:
    signature = next((value for name, value in headers.items() if name.lower() == HEADER), "")
    verify_signature(channel, keys, signature, body)
    return formats.parse(channel, body)
