"""One entry for the intake (R42): a channel's raw notification (headers and body exactly as received)
verified with that channel's own scheme and keys, and read into its ChannelPayment.

    verifiers = ChannelVerifiers(KeyStore.from_directory(path), clock)
    payment = verifiers.verify(Channel.WECHAT, headers, body)

Refusals are DomainErrors: Unauthenticated with a reason of refusals.REASONS, or InvalidArgument
MALFORMED_NOTIFICATION / CHANNEL_NOT_NOTIFIABLE, as formats.parse raises them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from services.collection.channels import alipay, formats, own_format, unionpay, wechat_pay_v3
from services.collection.channels.formats import malformed
from services.collection.channels.keys import OWN_FORMAT_CHANNELS, UNIONPAY_CHANNELS, KeyStore
from services.collection.channels.wechat_pay_v3 import NonceCache
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment
from services.common.clock import Clock
from services.common.errors import DomainError, InvalidArgument


class ChannelVerifiers:
    """Verifies every channel's notifications with the keys `store` holds now (a reload of the store
    takes effect on the next notification). WeChat Pay nonces are remembered for the 5-minute
    window in `nonces` (by default a NonceCache of this process)."""

    def __init__(self, store: KeyStore, clock: Clock, nonces: NonceCache | None = None) -> None:
        self._store = store
        self._clock = clock
        self._nonces = nonces if nonces is not None else NonceCache()

    def verify(
        self, channel: Channel, headers: Mapping[str, str], body: bytes, *, call: str | None = None
    ) -> ChannelPayment:
        if len(body) > formats.MAX_PAYLOAD_BYTES:
            raise malformed(f"larger than {formats.MAX_PAYLOAD_BYTES} bytes")
        keys = self._store.current()
        now = self._clock.now()
        try:
            if channel is Channel.WECHAT:
                seen = partial(self._nonces.seen_before, call=call)
                return wechat_pay_v3.verify_notification(keys.wechat, headers, body, now, seen)
            if channel is Channel.ALIPAY:
                return alipay.verify_notification(keys.alipay, headers, body)
            if channel in UNIONPAY_CHANNELS:
                return unionpay.verify_notification(channel, keys.unionpay.get(channel), headers, body, now)
            if channel in OWN_FORMAT_CHANNELS:
                return own_format.verify_notification(channel, keys.own.get(channel), headers, body)
        except DomainError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # Defence in depth, as in formats.parse: nothing a channel sends may crash the intake.
            raise malformed(f"cannot be read ({type(exc).__name__})") from None
        raise InvalidArgument(
            "CHANNEL_NOT_NOTIFIABLE",
            f"{channel} does not send payment notifications",
            "该渠道不发送缴费通知",
            field="channel",
        )


class OwnFormatSignatures:
    """The SignatureVerifier of the NotifyPayment path today (verify(channel, payload, signature) ->
    bool), for the e-tax bureau and the family account under their own keys; every other channel's
    scheme needs its headers (ChannelVerifiers), so it is False here."""

    def __init__(self, store: KeyStore) -> None:
        self._store = store

    def verify(self, channel: Channel, payload: bytes, signature: str) -> bool:
        if channel not in OWN_FORMAT_CHANNELS:
            return False
        try:
            own_format.verify_signature(channel, self._store.current().own.get(channel), signature, payload)
        except DomainError:
            return False
        return True
