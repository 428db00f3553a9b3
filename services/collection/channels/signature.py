"""The per-channel signature hook. Real channels sign with their own keys and algorithms (WeChat Pay
v3 RSA, Alipay RSA2, UnionPay certificates); a deployment plugs each one in here. This reference
implementation uses HMAC-SHA256 with a shared secret per channel."""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from services.collection.domain.model import Channel


class SignatureVerifier(Protocol):
    def verify(self, channel: Channel, payload: bytes, signature: str) -> bool: ...


class HmacSignatures:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def _key(self, channel: Channel) -> bytes:
        return hmac.new(self._secret, channel.value.encode(), hashlib.sha256).digest()

    def sign(self, channel: Channel, payload: bytes) -> str:
        return hmac.new(self._key(channel), payload, hashlib.sha256).hexdigest()

    def verify(self, channel: Channel, payload: bytes, signature: str) -> bool:
        # Bytes on both sides: compare_digest refuses non-ASCII str, and a signature is whatever was sent.
        given = signature.strip().lower().encode("utf-8", "replace")
        return hmac.compare_digest(self.sign(channel, payload).encode(), given)
