"""The payment path's statements (R20-R23), with the named parameters each binds.

One statement reads everything a notification's decision needs; one writes every effect of it. The read
locks the order and its items. Rows it does not lock (an earlier payment of the channel transaction, the
request-id record) come from the statement's snapshot, which may predate a concurrent transaction that
committed while this one waited for the order lock. So every write inserts the payment and the request-id
record with ON CONFLICT DO NOTHING, makes every other effect depend on the payment row it inserted, and
reports what it wrote: when a concurrent notification got there first, the caller rolls back and reads
again. Every state a statement writes is a parameter (the domain's enums), never a literal."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from services.collection.refunds_repository import NEW_REFUND_COLUMNS
from services.collection.repository import ITEM_COLUMNS
from services.common.named_sql import NamedStatement


@dataclass(frozen=True)
class ReadParams:
    order_id: uuid.UUID | None  # None: the notified order id is not even a UUID
    caller: str | None
    method: str | None
    request_id: str | None
    channel: str
    transaction_id: str


@dataclass(frozen=True)
class PaymentParams:
    """The payments row; `now` is also when every other row is written."""

    payment_id: uuid.UUID
    order_id: uuid.UUID
    payer: str
    channel: str
    transaction_id: str
    amount_fen: int
    paid_at: dt.datetime
    payment_outcome: str
    payload_sha256: bytes
    now: dt.datetime


@dataclass(frozen=True)
class RequestParams:
    """The request-id record written with the effect; all None when there is none (a bank's result)."""

    request_caller: str | None
    request_method: str | None
    request_id: str | None
    request_fingerprint: bytes | None
    request_response: bytes | None


@dataclass(frozen=True)
class PaymentRecordParams:
    """The notification record written in its payment's row; the payment gives its channel, transaction,
    order, amount, time and outcome. All None when no channel notified (a bank's deduction result)."""

    record_payload_sha256: bytes | None
    record_payload_size: int | None
    record_payload_sample: str | None


@dataclass(frozen=True)
class RecordParams:
    """A notification record on its own (a refusal, a replay)."""

    record_channel: str
    record_transaction_id: str | None
    record_order_id: str | None
    record_amount_fen: int | None
    record_paid_at: dt.datetime | None
    record_payload_sha256: bytes
    record_payload_size: int
    record_payload_sample: str
    record_outcome: str
    record_payment_id: uuid.UUID | None
    record_detail: str | None
    received_at: dt.datetime


@dataclass(frozen=True)
class AppliedParams:
    item_ids: list[uuid.UUID]
    receipt_number: str
    event_id: uuid.UUID
    event_type: str
    event_envelope: bytes
    event_correlation_id: str
    family_holder: str | None  # the account the money comes from (R20a), its balance checked under lock
    ledger_kind: str
    item_status: str
    order_status: str


@dataclass(frozen=True)
class RefundParams:
    """The refund's own columns of refunds_repository.NEW_REFUND_COLUMNS (its payment, channel, amount and
    times are the payment's)."""

    refund_id: uuid.UUID
    refund_reason: str
    refund_status: str
    refund_requested_by: str | None
    refund_note: str | None


# The order and its items are locked only while the notification is undecided: a request id or a channel
# transaction already recorded is answered from its record (committed, so final) without waiting for the
# order, and takes no receipt number.
# `generic_plans`: for the rest of the transaction, statements run on their prepared (generic) plan. Left to
# itself PostgreSQL planned the write afresh for every payment (its generic plan's estimate, with an item
# array of unknown length, looks dearer than a custom one), which cost as much as running it (issue 23
# item 2); every statement of the path looks rows up by key, so one plan serves every payment. Set here,
# not by a statement of its own, so it costs no round trip.
READ = NamedStatement.of(f"""
WITH generic_plans AS MATERIALIZED (SELECT set_config('plan_cache_mode', 'force_generic_plan', true)),
request AS MATERIALIZED (
    SELECT fingerprint, response FROM idempotency_keys
    WHERE caller = :caller AND method = :method AND request_id = :request_id),
recorded AS MATERIALIZED (
    SELECT pay.payment_id AS recorded_payment_id, pay.order_id AS recorded_order_id,
           pay.amount_fen AS recorded_amount_fen, pay.outcome AS recorded_outcome,
           (SELECT r.receipt_number FROM receipts r WHERE r.payment_id = pay.payment_id) AS recorded_receipt_number,
           (SELECT f.refund_id FROM refunds f WHERE f.payment_id = pay.payment_id
            ORDER BY f.created_at LIMIT 1) AS recorded_refund_id
    FROM payments pay WHERE pay.channel = :channel AND pay.channel_transaction_id = :transaction_id),
undecided AS MATERIALIZED (
    SELECT NOT EXISTS (SELECT 1 FROM request) AND NOT EXISTS (SELECT 1 FROM recorded) AS value),
receipt_sequence AS MATERIALIZED (
    SELECT nextval('receipt_number_seq') AS value FROM undecided WHERE undecided.value),
locked AS (
    SELECT o.status AS order_status, o.total_fen AS order_total_fen, o.payer_id_number AS order_payer_id_number,
           {ITEM_COLUMNS}
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    JOIN payable_items i ON i.payable_item_id = l.payable_item_id
    JOIN insured_persons p ON p.resident_id_number = i.resident_id_number
    WHERE o.order_id = :order_id AND (SELECT value FROM undecided)
    ORDER BY i.payable_item_id
    FOR UPDATE OF o, i)
SELECT request.fingerprint AS request_fingerprint, request.response AS request_response,
       request.fingerprint IS NOT NULL AS request_seen, recorded.*, receipt_sequence.value AS receipt_sequence,
       locked.*
FROM generic_plans
LEFT JOIN request ON true
LEFT JOIN recorded ON true
LEFT JOIN receipt_sequence ON true
LEFT JOIN locked ON true
ORDER BY locked.payable_item_id""")

_NOTIFICATION_COLUMNS = """channel, channel_transaction_id, order_id, amount_fen, paid_at, payload_sha256, payload_size,
    payload_sample, outcome, payment_id, detail, received_at"""

# Shared head of the writes that record a payment: the payment, with the notification that wrote it (its
# number, size, sample and, where it differs, its hash: tax migration 0012; the payment's own columns are the
# rest of its record), and its request-id record (only when there is one), every later effect depending on
# the payment row.
_PAYMENT_AND_RECORDS = """
WITH payment AS (
    INSERT INTO payments (payment_id, order_id, payer_id_number, channel, channel_transaction_id, amount_fen,
        paid_at, outcome, payload_sha256, created_at, notification_id, notification_size, notification_sample,
        notification_sha256)
    VALUES (:payment_id, :order_id, :payer, :channel, :transaction_id, :amount_fen, :paid_at, :payment_outcome,
        :payload_sha256, :now::timestamptz,
        CASE WHEN :record_payload_size::integer IS NOT NULL THEN nextval('notification_id_seq') END,
        :record_payload_size::integer, :record_payload_sample::text,
        NULLIF(:record_payload_sha256::bytea, :payload_sha256::bytea))
    ON CONFLICT (channel, channel_transaction_id) DO NOTHING RETURNING payment_id, order_id),
request AS (
    INSERT INTO idempotency_keys (caller, method, request_id, fingerprint, response)
    SELECT :request_caller::text, :request_method::text, :request_id::text, :request_fingerprint::bytea,
           :request_response::bytea
    FROM payment WHERE :request_method::text IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING true)"""

_WRITTEN = """
SELECT EXISTS (SELECT 1 FROM payment) AS payment,
       :request_method::text IS NULL OR EXISTS (SELECT 1 FROM request) AS request"""

WRITE_APPLIED = NamedStatement.of(f"""{_PAYMENT_AND_RECORDS},
debit AS (
    UPDATE family_accounts a SET balance_fen = a.balance_fen - :amount_fen, updated_at = :now
    FROM payment WHERE a.holder_id_number = :family_holder::text RETURNING a.balance_fen),
ledger AS (
    INSERT INTO family_account_entries (holder_id_number, kind, amount_fen, balance_after_fen, payment_id,
        recorded_at)
    SELECT :family_holder::text, :ledger_kind::text, :amount_fen, balance_fen, :payment_id, :now FROM debit),
paid AS (
    UPDATE payable_items i SET status = :item_status, paid_by_payment_id = payment.payment_id, updated_at = :now
    FROM payment WHERE i.payable_item_id = ANY(:item_ids::uuid[]) RETURNING i.payable_item_id, i.amount_fen),
paid_lines AS (
    INSERT INTO payment_items (payment_id, payable_item_id, amount_fen)
    SELECT :payment_id, payable_item_id, amount_fen FROM paid),
freed AS (
    UPDATE order_lines l SET holds_item = false
    FROM payment WHERE l.payable_item_id = ANY(:item_ids::uuid[]) AND l.holds_item),
paid_order AS (
    UPDATE orders o SET status = :order_status, payment_id = payment.payment_id, paid_at = :paid_at,
        updated_at = :now
    FROM payment WHERE o.order_id = :order_id),
receipt AS (
    INSERT INTO receipts (receipt_number, payment_id, issued_at)
    SELECT :receipt_number::text, payment_id, :now FROM payment),
event AS (
    INSERT INTO outbox (event_id, event_type, envelope, correlation_id)
    SELECT :event_id::uuid, :event_type::text, :event_envelope::bytea, :event_correlation_id::text
    FROM payment){_WRITTEN}""")

WRITE_REFUND = NamedStatement.of(f"""{_PAYMENT_AND_RECORDS},
refund AS (
    INSERT INTO refunds ({NEW_REFUND_COLUMNS})
    SELECT :refund_id::uuid, payment_id, :channel, :amount_fen, :refund_reason::text, :refund_status::text, :now,
           :refund_requested_by::text, :refund_note::text, :now, :now
    FROM payment){_WRITTEN}""")

_RECORD_VALUES = """:record_channel::text, :record_transaction_id::text, :record_order_id::text,
    :record_amount_fen::bigint, :record_paid_at::timestamptz, :record_payload_sha256::bytea,
    :record_payload_size::integer, :record_payload_sample::text, :record_outcome::text, :record_payment_id::uuid,
    :record_detail::text, :received_at::timestamptz"""

# A notification answered from an earlier one: its request-id record (when new) and its record.
WRITE_REPLAY = NamedStatement.of(f"""
WITH request AS (
    INSERT INTO idempotency_keys (caller, method, request_id, fingerprint, response)
    SELECT :request_caller::text, :request_method::text, :request_id::text, :request_fingerprint::bytea,
           :request_response::bytea
    WHERE :request_method::text IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING true),
notification AS (
    INSERT INTO notification_records ({_NOTIFICATION_COLUMNS})
    SELECT {_RECORD_VALUES} WHERE :request_method::text IS NULL OR EXISTS (SELECT 1 FROM request))
SELECT written AS payment, written AS request
FROM (SELECT :request_method::text IS NULL OR EXISTS (SELECT 1 FROM request) AS written) outcome""")

# A notification that changed nothing (refused).
RECORD = NamedStatement.of(f"INSERT INTO notification_records ({_NOTIFICATION_COLUMNS}) VALUES ({_RECORD_VALUES})")
