"""Why a channel's notification is not believed (R42), as domain errors with stable reasons.

Every refusal of a verifier is one of these or formats.malformed (MALFORMED_NOTIFICATION): the intake
records it with its reason (R21b) and answers the channel in its protocol. The reasons beside
SIGNATURE_INVALID say what an operator should look at: a clock (TIMESTAMP_STALE), a replay
(NONCE_REPLAYED), a merchant configuration (APP_ID_MISMATCH, MERCHANT_ID_MISMATCH) or a certificate
chain (CERTIFICATE_UNTRUSTED)."""

from __future__ import annotations

from services.collection.domain.model import Channel
from services.common.errors import Unauthenticated

SIGNATURE_INVALID = "SIGNATURE_INVALID"
TIMESTAMP_STALE = "TIMESTAMP_STALE"
NONCE_REPLAYED = "NONCE_REPLAYED"
APP_ID_MISMATCH = "APP_ID_MISMATCH"
MERCHANT_ID_MISMATCH = "MERCHANT_ID_MISMATCH"
CERTIFICATE_UNTRUSTED = "CERTIFICATE_UNTRUSTED"

# Every reason a verifier raises besides MALFORMED_NOTIFICATION, for the intake's table of outcomes.
REASONS = (
    SIGNATURE_INVALID,
    TIMESTAMP_STALE,
    NONCE_REPLAYED,
    APP_ID_MISMATCH,
    MERCHANT_ID_MISMATCH,
    CERTIFICATE_UNTRUSTED,
)

_ZH = {
    SIGNATURE_INVALID: "缴费通知签名验证失败",
    TIMESTAMP_STALE: "缴费通知时间戳超出允许范围",
    NONCE_REPLAYED: "缴费通知随机串重复(重放)",
    APP_ID_MISMATCH: "缴费通知的应用号与配置不符",
    MERCHANT_ID_MISMATCH: "缴费通知的商户号与配置不符",
    CERTIFICATE_UNTRUSTED: "缴费通知的签名证书不可信",
}


def refused(reason: str, channel: Channel, why: str, *, field: str = "signature") -> Unauthenticated:
    """A notification of `channel` not believed, for `why` (kept in the metadata for the record)."""
    return Unauthenticated(
        reason,
        f"the {channel} notification is not believed: {why}",
        _ZH[reason],
        field=field,
        metadata={"channel": channel.value, "why": why},
    )


def signature_invalid(channel: Channel, why: str) -> Unauthenticated:
    return refused(SIGNATURE_INVALID, channel, why)
