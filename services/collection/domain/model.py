"""Tax-side domain values. Enum values are the database names and, with the enum's prefix, the proto names."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from services.common.money import Fen
from services.common.periods import DateRange


class FeeType(enum.StrEnum):
    RESIDENT_MEDICAL = "RESIDENT_MEDICAL"
    RESIDENT_PENSION = "RESIDENT_PENSION"
    RESIDENT_MEDICAL_REPAIR = "RESIDENT_MEDICAL_REPAIR"  # R38: a missed year repaired; covers nothing


class ItemStatus(enum.StrEnum):
    UNPAID = "UNPAID"
    PAID = "PAID"
    SETTLED_BY_SUBSIDY = "SETTLED_BY_SUBSIDY"
    CANCELLED = "CANCELLED"


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    EXPIRED = "EXPIRED"


class OrderKind(enum.StrEnum):
    PERSONAL = "PERSONAL"
    SCHOOL_COLLECTIVE = "SCHOOL_COLLECTIVE"
    AGREEMENT_DEDUCTION = "AGREEMENT_DEDUCTION"


class Channel(enum.StrEnum):
    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"
    BANK_APP = "BANK_APP"
    BANK_COUNTER = "BANK_COUNTER"
    ATM = "ATM"
    POS = "POS"
    E_TAX = "E_TAX"
    SOCIAL_SECURITY_CARD = "SOCIAL_SECURITY_CARD"
    AGREEMENT_DEDUCTION = "AGREEMENT_DEDUCTION"
    FAMILY_MUTUAL_AID = "FAMILY_MUTUAL_AID"
    SUBSIDY = "SUBSIDY"


class PaymentOutcome(enum.StrEnum):
    APPLIED = "APPLIED"
    REFUND_RAISED = "REFUND_RAISED"
    SUBSIDY = "SUBSIDY"


class NotificationOutcome(enum.StrEnum):
    """What became of a channel notification, as its record keeps it (R21b)."""

    APPLIED = "APPLIED"
    DUPLICATE_REPLAYED = "DUPLICATE_REPLAYED"
    CONFLICT = "CONFLICT"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    REFUND_RAISED = "REFUND_RAISED"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    MALFORMED = "MALFORMED"
    PAYMENT_TIME_IN_FUTURE = "PAYMENT_TIME_IN_FUTURE"
    FAMILY_BALANCE_SHORT = "FAMILY_BALANCE_SHORT"
    REFUSED = "REFUSED"
    # Why a channel's own verification did not believe it (R42, channels/refusals.py).
    TIMESTAMP_STALE = "TIMESTAMP_STALE"
    NONCE_REPLAYED = "NONCE_REPLAYED"
    APP_ID_MISMATCH = "APP_ID_MISMATCH"
    MERCHANT_ID_MISMATCH = "MERCHANT_ID_MISMATCH"
    CERTIFICATE_UNTRUSTED = "CERTIFICATE_UNTRUSTED"


class EnrollmentState(enum.StrEnum):
    """The tax side's copy of an insurance enrollment's state, as its events report it (R11, R17a)."""

    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"


class RefundReason(enum.StrEnum):
    DOUBLE_PAYMENT = "DOUBLE_PAYMENT"
    OUTSIDE_WINDOW = "OUTSIDE_WINDOW"
    ITEMS_CANCELLED = "ITEMS_CANCELLED"
    REQUESTED = "REQUESTED"
    COVERAGE_REFUSED = "COVERAGE_REFUSED"  # R14a: insurance could not grant the year
    CHANNEL_NOT_OPEN = "CHANNEL_NOT_OPEN"  # R49: paid through a channel before its opening day


class RefundStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    MANUAL_HANDLING = "MANUAL_HANDLING"


@dataclass(frozen=True)
class InsuredPerson:
    resident_id_number: str
    name: str
    birth_date: dt.date


@dataclass(frozen=True)
class PayableItem:
    payable_item_id: str
    enrollment_id: str
    resident_id_number: str
    insured_name: str
    region_code: str
    category: str
    insurance_year: int
    fee_type: FeeType
    standard_fen: Fen
    subsidy_fen: Fen
    amount_fen: Fen
    status: ItemStatus
    policy_version: int
    collection_window: DateRange
    payable_until: dt.date
    coverage: DateRange
    newborn_current_year: bool
    paid_by_payment_id: str | None = None
    pending_order_id: str | None = None
    # R49: channel → the first day it takes payments for this item's year.
    channel_opens: tuple[tuple[str, dt.date], ...] = ()


@dataclass(frozen=True)
class OrderLine:
    payable_item_id: str
    insured_id_number: str
    insured_name: str
    insurance_year: int
    fee_type: FeeType
    amount_fen: Fen
    coverage: DateRange


@dataclass(frozen=True)
class Order:
    order_id: str
    payer_id_number: str
    status: OrderStatus
    kind: OrderKind
    total_fen: Fen
    lines: tuple[OrderLine, ...]
    created_at: dt.datetime
    expires_at: dt.datetime
    paid_at: dt.datetime | None = None
    payment_id: str | None = None
    receipt_number: str | None = None
    reinitiated_from: str | None = None
    school_code: str | None = None


@dataclass(frozen=True)
class Receipt:
    receipt_number: str
    payment_id: str
    order_id: str
    payer_id_number: str
    channel: Channel
    paid_at: dt.datetime
    total_fen: Fen
    lines: tuple[OrderLine, ...]
    issued_at: dt.datetime
    reversed_at: dt.datetime | None = None


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    channel: Channel
    amount_fen: Fen
    reason: RefundReason
    status: RefundStatus
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    channel_refund_id: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class PaymentRecord:
    payment_id: str
    payable_item_id: str
    receipt_number: str | None
    order_id: str
    paid_at: dt.datetime
    channel: Channel
    insured_id_number: str
    insured_name: str
    insurance_year: int
    fee_type: FeeType
    amount_fen: Fen
    reversed: bool


@dataclass(frozen=True)
class LinkedMinor:
    minor_id_number: str
    minor_name: str
    linked_at: dt.datetime


@dataclass(frozen=True)
class FamilyAccount:
    holder_id_number: str
    balance_fen: Fen
    updated_at: dt.datetime


@dataclass(frozen=True)
class PaymentResult:
    """What NotifyPayment answers, and answers again for a repeated notification."""

    outcome: PaymentOutcome
    payment_id: str
    order_id: str
    receipt_number: str | None = None
    refund_id: str | None = None
