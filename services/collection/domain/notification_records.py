"""The record every channel notification leaves (R21b): its hash and size, a short masked sample, its
outcome and, when it was refused, the reason. Pure: the intake writes what these functions build."""

from __future__ import annotations

import datetime as dt
import hashlib

from services.collection.domain.intake import Notification, NotificationRecord
from services.collection.domain.model import NotificationOutcome
from services.collection.domain.payments import ChannelPayment
from services.common.errors import DomainError
from services.common.masking import mask_text

# What a refusal is recorded as, by its reason.
REFUSAL_OUTCOMES = {
    "CHANNEL_TRANSACTION_CONFLICT": NotificationOutcome.CONFLICT,
    "AMOUNT_MISMATCH": NotificationOutcome.AMOUNT_MISMATCH,
    "ORDER_NOT_FOUND": NotificationOutcome.UNKNOWN_ORDER,
    "SIGNATURE_INVALID": NotificationOutcome.SIGNATURE_INVALID,
    "MALFORMED_NOTIFICATION": NotificationOutcome.MALFORMED,
    "MALFORMED_REQUEST": NotificationOutcome.MALFORMED,
    "INVALID_AMOUNT": NotificationOutcome.MALFORMED,
    "PAYMENT_TIME_IN_FUTURE": NotificationOutcome.PAYMENT_TIME_IN_FUTURE,
    "FAMILY_BALANCE_SHORT": NotificationOutcome.FAMILY_BALANCE_SHORT,
    # The channels' own verification (R42, services/collection/channels/refusals.py).
    "TIMESTAMP_STALE": NotificationOutcome.TIMESTAMP_STALE,
    "NONCE_REPLAYED": NotificationOutcome.NONCE_REPLAYED,
    "APP_ID_MISMATCH": NotificationOutcome.APP_ID_MISMATCH,
    "MERCHANT_ID_MISMATCH": NotificationOutcome.MERCHANT_ID_MISMATCH,
    "CERTIFICATE_UNTRUSTED": NotificationOutcome.CERTIFICATE_UNTRUSTED,
}

# How much of a payload is kept as a sample, and of a refusal's message as the detail.
SAMPLE_CHARS = 256
DETAIL_CHARS = 500


def refusal_outcome(refusal: DomainError) -> NotificationOutcome:
    """What a notification refused by the intake is recorded as."""
    return REFUSAL_OUTCOMES.get(refusal.reason, NotificationOutcome.REFUSED)


def edge_outcome(refusal: DomainError) -> NotificationOutcome:
    """What a notification refused by the field rules (R34) is recorded as."""
    return NotificationOutcome.SIGNATURE_INVALID if refusal.field == "signature" else NotificationOutcome.MALFORMED


def record_of(
    notification: Notification,
    received_at: dt.datetime,
    outcome: NotificationOutcome,
    *,
    payment: ChannelPayment | None = None,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> NotificationRecord:
    """The record of `notification`, received at `received_at`, that ended in `outcome`."""
    return raw_record(
        notification.channel_label,
        notification.payload,
        outcome,
        received_at,
        payment=payment,
        payment_id=payment_id,
        refusal=refusal,
    )


def raw_record(
    channel_label: str,
    payload: bytes,
    outcome: NotificationOutcome,
    received_at: dt.datetime,
    *,
    payment: ChannelPayment | None = None,
    payment_id: str | None = None,
    refusal: DomainError | None = None,
) -> NotificationRecord:
    """The record of bytes that may not even parse as a notification (the edge's refusals, R41)."""
    return NotificationRecord(
        channel=channel_label,
        payload_sha256=hashlib.sha256(payload).digest(),
        payload_size=len(payload),
        payload_sample=sample(payload),
        outcome=outcome.value,
        received_at=received_at,
        payment=payment,
        payment_id=payment_id,
        detail=printable(f"{refusal.reason}: {refusal.message}", DETAIL_CHARS) if refusal else None,
    )


def sample(payload: bytes) -> str:
    """The start of a payload as readable, storable text: undecodable bytes and control characters
    escaped, personal numbers masked."""
    return mask_text(printable(payload[: SAMPLE_CHARS * 4].decode("utf-8", "replace"), SAMPLE_CHARS))


def printable(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, every non-printable character (NUL, unpaired surrogates) escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])
