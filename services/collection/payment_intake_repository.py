"""The payment path's statements (R20-R23): one statement reads everything a notification's decision
needs, one statement writes every effect of that decision.

With BEGIN and COMMIT a notification costs four round trips, however many rows it touches (issue 12).
Statements are prepared once per connection by asyncpg's statement cache.

The read locks the order and its items. Rows it does not lock (an earlier payment of the channel
transaction, the request-id record) come from the statement's snapshot, which may predate a concurrent
transaction that committed while this one waited for the order lock. So every write inserts the payment
and the request-id record with ON CONFLICT DO NOTHING, makes every other effect depend on the payment row
it inserted, and reports what it wrote (`Written`): when a concurrent notification got there first and
nothing was written, the caller reads again, and otherwise rolls back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.collection.domain import refunds
from services.collection.domain.family import LedgerEntryKind
from services.collection.domain.model import (
    ItemStatus,
    OrderStatus,
    PayableItem,
    PaymentOutcome,
    PaymentResult,
    RefundReason,
)
from services.collection.domain.payments import ChannelPayment, OrderState, RecordedPayment
from services.collection.repository import ITEM_COLUMNS, item_from_row
from services.common.db import Connection
from services.common.idempotency import RequestKey
from services.common.messaging.outbox import OutboxRow
from services.common.money import Fen


@dataclass(frozen=True)
class StoredRequest:
    """The request-id record of an earlier call with the same key."""

    fingerprint: bytes
    response: bytes | None


@dataclass(frozen=True)
class NotificationView:
    """What the decision on one notification reads: the request-id record, an earlier payment of the same
    channel transaction, and, when there is neither, the order (locked; None if there is no such order),
    its items (locked, in id order) and a receipt number to use if the payment is applied."""

    stored_request: StoredRequest | None
    recorded: tuple[RecordedPayment, PaymentResult] | None
    order: OrderState | None
    items: tuple[PayableItem, ...]
    receipt_sequence: int | None


@dataclass(frozen=True)
class NotificationRecord:
    """What a channel sent and what became of it (R21b), kept whatever the outcome."""

    channel: str
    payload_sha256: bytes
    payload_size: int
    payload_sample: str
    outcome: str
    received_at: dt.datetime
    payment: ChannelPayment | None = None
    payment_id: str | None = None
    detail: str | None = None

    def values(self) -> tuple[object, ...]:
        p = self.payment
        return (
            self.channel,
            p.transaction_id if p else None,
            p.order_id if p else None,
            p.amount_fen if p else None,
            p.paid_at if p else None,
            self.payload_sha256,
            self.payload_size,
            self.payload_sample,
            self.outcome,
            uuid.UUID(self.payment_id) if self.payment_id else None,
            self.detail,
            self.received_at,
        )


@dataclass(frozen=True)
class Written:
    """What a write statement inserted. Incomplete means a concurrent notification recorded the same
    channel transaction or request id first, and nothing of this one may stand. Every other effect
    depends on the payment row, so without it nothing was written and the notification can be read
    again in the same transaction (`untouched`); with it, the transaction must be rolled back."""

    payment: bool
    request: bool

    @property
    def complete(self) -> bool:
        return self.payment and self.request

    @property
    def untouched(self) -> bool:
        return not self.payment


@dataclass(frozen=True)
class RequestRecord:
    """The request-id record to write with the effect, and the response it answers retries with."""

    key: RequestKey
    response: bytes


_NOTIFICATION_COLUMNS = """channel, channel_transaction_id, order_id, amount_fen, paid_at, payload_sha256, payload_size,
    payload_sample, outcome, payment_id, detail, received_at"""


def _placeholders(first: int, count: int) -> str:
    return ", ".join(f"${n}" for n in range(first, first + count))


# The order and its items are locked only while the notification is undecided: a request id or a channel
# transaction already recorded is answered from its record (committed, so final) without waiting for the
# order, and takes no receipt number.
_READ = f"""
WITH request AS MATERIALIZED (
    SELECT fingerprint, response FROM idempotency_keys WHERE caller = $6 AND method = $2 AND request_id = $3),
recorded AS MATERIALIZED (
    SELECT pay.payment_id AS recorded_payment_id, pay.order_id AS recorded_order_id,
           pay.amount_fen AS recorded_amount_fen, pay.outcome AS recorded_outcome,
           (SELECT r.receipt_number FROM receipts r WHERE r.payment_id = pay.payment_id) AS recorded_receipt_number,
           (SELECT f.refund_id FROM refunds f WHERE f.payment_id = pay.payment_id
            ORDER BY f.created_at LIMIT 1) AS recorded_refund_id
    FROM payments pay WHERE pay.channel = $4 AND pay.channel_transaction_id = $5),
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
    WHERE o.order_id = $1 AND (SELECT value FROM undecided)
    ORDER BY i.payable_item_id
    FOR UPDATE OF o, i)
SELECT request.fingerprint AS request_fingerprint, request.response AS request_response,
       request.fingerprint IS NOT NULL AS request_seen, recorded.*, receipt_sequence.value AS receipt_sequence,
       locked.*
FROM (SELECT 1) AS one
LEFT JOIN request ON true
LEFT JOIN recorded ON true
LEFT JOIN receipt_sequence ON true
LEFT JOIN locked ON true
ORDER BY locked.payable_item_id"""


def _record_values_sql(first: int) -> str:
    """The notification record's values as parameters from $first, typed: a write without a record (a
    bank's deduction result, which no channel notified) passes NULLs and inserts nothing."""
    types = ("text", "text", "text", "bigint", "timestamptz", "bytea", "integer", "text", "text", "uuid", "text")
    values = ", ".join(f"${first + n}::{t}" for n, t in enumerate((*types, "timestamptz")))
    return f"SELECT {values} WHERE ${first + 8}::text IS NOT NULL"


# Shared head of the writes that record a payment: $1-$9 the payment, $10-$14 the request-id record
# (method, request id, fingerprint, response, caller; NULL when there is none), $15-$26 the notification
# record, $26 also the time written.
_PAYMENT_AND_RECORDS = f"""
WITH payment AS (
    INSERT INTO payments (payment_id, order_id, payer_id_number, channel, channel_transaction_id, amount_fen,
        paid_at, outcome, payload_sha256, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $26::timestamptz)
    ON CONFLICT (channel, channel_transaction_id) DO NOTHING RETURNING payment_id),
request AS (
    INSERT INTO idempotency_keys (caller, method, request_id, fingerprint, response)
    SELECT $14::text, $10::text, $11::text, $12::bytea, $13::bytea FROM payment WHERE $10::text IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING true),
notification AS (
    INSERT INTO channel_notifications ({_NOTIFICATION_COLUMNS})
    {_record_values_sql(15)} AND EXISTS (SELECT 1 FROM payment))"""

_WRITTEN = """
SELECT EXISTS (SELECT 1 FROM payment) AS payment,
       $10::text IS NULL OR EXISTS (SELECT 1 FROM request) AS request"""

# $27 the paid items, $28 the receipt number, $29-$32 the payment.confirmed outbox row, $33 the holder of
# the family mutual-aid account the money comes from (R20a; its balance was checked under lock), or NULL;
# $34-$36 the states written (the ledger entry's kind, the items' and the order's status, _APPLIED_STATES).
_WRITE_APPLIED = f"""{_PAYMENT_AND_RECORDS},
debit AS (
    UPDATE family_accounts a SET balance_fen = a.balance_fen - $6, updated_at = $26
    FROM payment WHERE a.holder_id_number = $33::text RETURNING a.balance_fen),
ledger AS (
    INSERT INTO family_account_entries (holder_id_number, kind, amount_fen, balance_after_fen, payment_id,
        recorded_at)
    SELECT $33::text, $34::text, $6, balance_fen, $1, $26 FROM debit),
paid AS (
    UPDATE payable_items i SET status = $35, paid_by_payment_id = payment.payment_id, updated_at = $26
    FROM payment WHERE i.payable_item_id = ANY($27::uuid[]) RETURNING i.payable_item_id, i.amount_fen),
paid_lines AS (
    INSERT INTO payment_items (payment_id, payable_item_id, amount_fen)
    SELECT $1, payable_item_id, amount_fen FROM paid),
freed AS (
    UPDATE order_lines l SET holds_item = false
    FROM payment WHERE l.payable_item_id = ANY($27::uuid[]) AND l.holds_item),
paid_order AS (
    UPDATE orders o SET status = $36, payment_id = payment.payment_id, paid_at = $7, updated_at = $26
    FROM payment WHERE o.order_id = $2),
receipt AS (
    INSERT INTO receipts (receipt_number, payment_id, issued_at) SELECT $28::text, payment_id, $26 FROM payment),
event AS (
    INSERT INTO outbox (event_id, event_type, envelope, correlation_id)
    SELECT $29::uuid, $30::text, $31::bytea, $32::text FROM payment){_WRITTEN}"""

# $27 the refund id, $28 its reason, $29 its initial status.
_WRITE_REFUND = f"""{_PAYMENT_AND_RECORDS},
refund AS (
    INSERT INTO refunds (refund_id, payment_id, channel, amount_fen, reason, status, next_attempt_at, created_at,
        updated_at)
    SELECT $27::uuid, payment_id, $4, $6, $28::text, $29::text, $26, $26, $26 FROM payment){_WRITTEN}"""

# A notification answered from an earlier one: only the request-id record ($1-$5, when new) and the
# notification record ($6-$17).
_WRITE_REPLAY = f"""
WITH request AS (
    INSERT INTO idempotency_keys (caller, method, request_id, fingerprint, response)
    SELECT $5::text, $1::text, $2::text, $3::bytea, $4::bytea WHERE $1::text IS NOT NULL
    ON CONFLICT DO NOTHING RETURNING true),
notification AS (
    INSERT INTO channel_notifications ({_NOTIFICATION_COLUMNS})
    {_record_values_sql(6)} AND ($1::text IS NULL OR EXISTS (SELECT 1 FROM request)))
SELECT written AS payment, written AS request
FROM (SELECT $1::text IS NULL OR EXISTS (SELECT 1 FROM request) AS written) outcome"""

# What an applied payment writes: a debit of the family account, its items paid, its order paid.
_APPLIED_STATES = (LedgerEntryKind.DEBIT.value, ItemStatus.PAID.value, OrderStatus.PAID.value)

_RECORD = f"INSERT INTO channel_notifications ({_NOTIFICATION_COLUMNS}) VALUES ({_placeholders(1, 12)})"


class PaymentIntakeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def read(self, payment: ChannelPayment, key: RequestKey | None) -> NotificationView:
        """Reads the decision's inputs; locks the notified order and its items if it is still undecided."""
        try:
            order_key: uuid.UUID | None = uuid.UUID(payment.order_id)
        except ValueError:
            order_key = None
        rows = await self._conn.fetch(
            _READ,
            order_key,
            key.method if key else None,
            key.request_id if key else None,
            payment.channel.value,
            payment.transaction_id,
            key.caller if key else None,
        )
        first = rows[0]
        order = None
        if first["order_status"] is not None:
            order = OrderState(
                str(order_key),
                OrderStatus(first["order_status"]),
                Fen(first["order_total_fen"]),
                first["order_payer_id_number"],
            )
        return NotificationView(
            stored_request=(
                StoredRequest(first["request_fingerprint"], first["request_response"])
                if first["request_seen"]
                else None
            ),
            recorded=_recorded(first),
            order=order,
            items=tuple(item_from_row(r) for r in rows) if order else (),
            receipt_sequence=first["receipt_sequence"],
        )

    async def write_applied(
        self,
        payment_id: str,
        payment: ChannelPayment,
        payer: str,
        request: RequestRecord | None,
        record: NotificationRecord | None,
        item_ids: Sequence[str],
        receipt_number: str,
        event: OutboxRow,
        now: dt.datetime,
        family_holder: str | None = None,
    ) -> Written:
        """The payment applied: payment, items paid, order paid, receipt, payment.confirmed, records, and
        the debit of the family account it was paid from."""
        row = await self._conn.fetchrow(
            _WRITE_APPLIED,
            *self._payment_values(payment_id, payment, payer, PaymentOutcome.APPLIED, request, record, now),
            [uuid.UUID(i) for i in item_ids],
            receipt_number,
            *event,
            family_holder,
            *_APPLIED_STATES,
        )
        return _written(row)

    async def write_refund(
        self,
        payment_id: str,
        payment: ChannelPayment,
        payer: str,
        request: RequestRecord | None,
        record: NotificationRecord | None,
        refund_id: str,
        reason: RefundReason,
        now: dt.datetime,
    ) -> Written:
        """The money kept and its refund raised (R23): payment, refund, records."""
        row = await self._conn.fetchrow(
            _WRITE_REFUND,
            *self._payment_values(payment_id, payment, payer, PaymentOutcome.REFUND_RAISED, request, record, now),
            uuid.UUID(refund_id),
            reason.value,
            refunds.INITIAL_STATUS.value,
        )
        return _written(row)

    async def write_replay(
        self, request: RequestRecord | None, record: NotificationRecord | None, now: dt.datetime
    ) -> Written:
        """A notification answered from an earlier one: its request-id record, when new, and its record."""
        row = await self._conn.fetchrow(_WRITE_REPLAY, *_request_values(request), *_record_values(record, now))
        return _written(row)

    async def record(self, record: NotificationRecord) -> None:
        """Keeps a notification that changed nothing (refused)."""
        await self._conn.execute(_RECORD, *record.values())

    @staticmethod
    def _payment_values(
        payment_id: str,
        payment: ChannelPayment,
        payer: str,
        outcome: PaymentOutcome,
        request: RequestRecord | None,
        record: NotificationRecord | None,
        now: dt.datetime,
    ) -> tuple[object, ...]:
        return (
            uuid.UUID(payment_id),
            uuid.UUID(payment.order_id),
            payer,
            payment.channel.value,
            payment.transaction_id,
            payment.amount_fen,
            payment.paid_at,
            outcome.value,
            payment.payload_sha256,
            *_request_values(request),
            *_record_values(record, now),
        )


def _request_values(request: RequestRecord | None) -> tuple[object, ...]:
    if request is None:
        return (None, None, None, None, None)
    key = request.key
    return (key.method, key.request_id, key.fingerprint, request.response, key.caller)


def _record_values(record: NotificationRecord | None, now: dt.datetime) -> tuple[object, ...]:
    """The record's values; without a record, NULLs but for the time, which the writes use as now."""
    return record.values() if record is not None else (*(None,) * 11, now)


def _recorded(row: asyncpg.Record) -> tuple[RecordedPayment, PaymentResult] | None:
    if row["recorded_payment_id"] is None:
        return None
    order_id = str(row["recorded_order_id"])
    return RecordedPayment(order_id, Fen(row["recorded_amount_fen"])), PaymentResult(
        outcome=PaymentOutcome(row["recorded_outcome"]),
        payment_id=str(row["recorded_payment_id"]),
        order_id=order_id,
        receipt_number=row["recorded_receipt_number"],
        refund_id=str(row["recorded_refund_id"]) if row["recorded_refund_id"] else None,
    )


def _written(row: asyncpg.Record | None) -> Written:
    assert row is not None  # the statement always answers one row
    return Written(payment=bool(row["payment"]), request=bool(row["request"]))
