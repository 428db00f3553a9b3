"""WeChat Pay API v3 payment notifications (R42), verified and read as the documentation says.

- Signature (回调通知签名 = 应答签名): SHA256withRSA (PKCS#1 v1.5) by WeChat Pay's platform private key
  over "{Wechatpay-Timestamp}\\n{Wechatpay-Nonce}\\n{raw body}\\n", base64 in Wechatpay-Signature, verified
  with the platform key named by Wechatpay-Serial; a timestamp more than 5 minutes off is refused.
  https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay3_3.shtml (签名),
  https://pay.weixin.qq.com/wiki/doc/api_external/en/wechatpay/wechatpay4_1.shtml (Signature Verification),
  https://pay.weixin.qq.com/docs/merchant/development/interface-rules/build-verify-sign-src.html (验签串)
- Resource (证书和回调报文解密): AEAD_AES_256_GCM (RFC 5116) under the 32-byte APIv3 key, 12-byte nonce,
  associated_data possibly empty, ciphertext base64 with the 16-byte tag appended.
  https://pay.weixin.qq.com/docs/merchant/development/interface-rules/certificate-callback-decryption.html,
  https://wechatpay-api.gitbook.io/wechatpay-api-v3/qian-ming-zhi-nan-1/zheng-shu-he-hui-tiao-bao-wen-jie-mi
- The notification (支付通知, event_type TRANSACTION.SUCCESS) and its decrypted transaction: out_trade_no,
  transaction_id, trade_state (SUCCESS only is a payment), amount.total in fen, success_time RFC 3339.
  https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_2_5.shtml

Replays: a nonce seen within the 5-minute window is refused (NONCE_REPLAYED) when the caller passes a
`seen` predicate such as NonceCache.seen_before; the same call tried again by its caller (one caller's
request id, answered from its record) is not a replay. WeChat Pay signs each of its calls anew, so a
resend of a notification carries a nonce of its own. That check is best effort (per process, bounded):
what stops a replayed or retried notification from having a second effect is the intake's uniqueness
of the channel transaction id (R21), which holds across processes and restarts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import heapq
import re
from collections.abc import Callable, Mapping
from dataclasses import replace

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.collection.channels import formats
from services.collection.channels.formats import malformed
from services.collection.channels.keys import WechatPayKeys
from services.collection.channels.refusals import (
    MERCHANT_ID_MISMATCH,
    NONCE_REPLAYED,
    TIMESTAMP_STALE,
    refused,
    signature_invalid,
)
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment
from services.common.text_rules import ID

TIMESTAMP, NONCE, SIGNATURE, SERIAL = (
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature",
    "wechatpay-serial",
)
WINDOW = dt.timedelta(minutes=5)
ALGORITHM = "AEAD_AES_256_GCM"
EVENT_TYPE = "TRANSACTION.SUCCESS"
GCM_NONCE_BYTES = 12
_TIMESTAMP = re.compile(r"[0-9]{1,11}")
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
MAX_HEADER_CHARS = {TIMESTAMP: 11, NONCE: 64, SERIAL: 128, SIGNATURE: 1024}
CHANNEL = Channel.WECHAT

# A "seen" predicate: True when (nonce, timestamp) was seen before; it remembers what it is asked.
SeenNonce = Callable[[str, int, dt.datetime], bool]


def signed_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes WeChat Pay signs: three lines, each ending in \\n, the body exactly as received."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if len(value) > MAX_HEADER_CHARS[name] or not _PRINTABLE.fullmatch(value):
        raise signature_invalid(CHANNEL, f"header {name} is missing or not printable")
    return value


def verify_signature(
    keys: WechatPayKeys, headers: Mapping[str, str], body: bytes, now: dt.datetime, seen: SeenNonce | None = None
) -> None:
    """Raises unless the headers sign `body` with a live platform key, at most 5 minutes from `now`,
    under a nonce `seen` has not seen (when given)."""
    headers = lower_headers(headers)
    timestamp, nonce, serial = _header(headers, TIMESTAMP), _header(headers, NONCE), _header(headers, SERIAL)
    signature_text = _header(headers, SIGNATURE)
    if not _TIMESTAMP.fullmatch(timestamp):
        raise signature_invalid(CHANNEL, "Wechatpay-Timestamp is not a number of seconds")
    sent = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    if abs(now - sent) > WINDOW:
        raise refused(TIMESTAMP_STALE, CHANNEL, f"Wechatpay-Timestamp is {int((now - sent).total_seconds())} s off")
    key = keys.platform_keys.get(serial)
    if key is None:
        raise signature_invalid(CHANNEL, f"no live platform key has serial {serial[:40]}")
    try:
        signature = base64.b64decode(signature_text, validate=True)
        key.verify(signature, signed_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        raise signature_invalid(CHANNEL, "Wechatpay-Signature does not verify") from None
    if seen is not None and seen(nonce, int(timestamp), now):
        raise refused(NONCE_REPLAYED, CHANNEL, "Wechatpay-Nonce was seen within the last 5 minutes")


def decrypt_resource(apiv3_key: bytes, resource: object) -> bytes:
    """The plaintext of a notification's resource (AEAD_AES_256_GCM under the APIv3 key)."""
    if not isinstance(resource, dict):
        raise malformed("resource is missing")
    if resource.get("algorithm") != ALGORITHM:
        raise malformed(f"resource.algorithm is {str(resource.get('algorithm'))[:32]!r}, not {ALGORITHM}")
    ciphertext, nonce, associated = (resource.get(k) for k in ("ciphertext", "nonce", "associated_data"))
    if not isinstance(ciphertext, str) or not isinstance(nonce, str) or not isinstance(associated, str | None):
        raise malformed("resource lacks its ciphertext or nonce")
    if len(nonce.encode()) != GCM_NONCE_BYTES:
        raise malformed(f"resource.nonce is not {GCM_NONCE_BYTES} bytes")
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode(), sealed, (associated or "").encode())
    except (binascii.Error, ValueError):
        raise malformed("resource.ciphertext is not base64") from None
    except InvalidTag:
        raise signature_invalid(CHANNEL, "the resource does not decrypt under the APIv3 key") from None


def verify_notification(
    keys: WechatPayKeys | None,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime,
    seen: SeenNonce | None = None,
) -> ChannelPayment:
    """The payment of a WeChat Pay notification, once its signature, time, nonce, encryption and
    merchant check out. `body` is the raw request body, exactly as received."""
    if keys is None:
        raise signature_invalid(CHANNEL, "no WeChat Pay keys are configured")
    verify_signature(keys, headers, body, now, seen)
    notification = formats.json_object(body)
    if notification.get("event_type") != EVENT_TYPE:
        raise malformed(f"event_type is {str(notification.get('event_type'))[:40]!r}, not {EVENT_TYPE}")
    plaintext = decrypt_resource(keys.apiv3_key, notification.get("resource"))
    transaction = formats.json_object(plaintext)
    mchid = formats.text_field(transaction, "mchid", ID)
    if mchid != keys.mchid:
        raise refused(MERCHANT_ID_MISMATCH, CHANNEL, f"mchid {mchid} is not ours", field="payload")
    payment = formats.wechat(CHANNEL, plaintext)
    return replace(payment, payload_sha256=hashlib.sha256(body).digest())


class NonceCache:
    """The nonces seen in the last window, bounded: `seen_before` as a SeenNonce predicate. A nonce
    is forgotten once its timestamp is out of the window (it would be refused as stale anyway); when
    full, the soonest to expire goes first (the intake's transaction uniqueness still stops a second
    effect of whatever slips through)."""

    def __init__(self, window: dt.timedelta = WINDOW, capacity: int = 100_000) -> None:
        self._window = window
        self._capacity = capacity
        self._expiry: dict[str, float] = {}
        self._calls: dict[str, str] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def seen_before(self, nonce: str, timestamp: int, now: dt.datetime, call: str | None = None) -> bool:
        """True when `nonce` came before within the window, other than in the same `call` (a caller's
        request id: that call tried again is answered from its record, not taken as a replay)."""
        self._forget_until(now.timestamp())
        if nonce in self._expiry:
            return call is None or self._calls.get(nonce) != call
        while len(self._expiry) >= self._capacity:
            self._drop_soonest()
        expires = timestamp + self._window.total_seconds()
        self._expiry[nonce] = expires
        if call is not None:
            self._calls[nonce] = call
        heapq.heappush(self._heap, (expires, nonce))
        return False

    def _forget_until(self, instant: float) -> None:
        while self._heap and self._heap[0][0] < instant:
            self._drop_soonest()

    def _drop_soonest(self) -> None:
        expires, nonce = heapq.heappop(self._heap)
        if self._expiry.get(nonce) == expires:
            del self._expiry[nonce]
            self._calls.pop(nonce, None)
