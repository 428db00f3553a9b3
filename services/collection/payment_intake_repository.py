"""The payment path's reads and writes (R20-R23): one statement reads what a notification's decision
needs, one writes every effect of it (payment_intake_sql). With BEGIN and COMMIT a notification costs
four round trips, however many rows it touches (issue 12); asyncpg prepares each statement once per
connection."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from services.collection import payment_intake_sql as sql
from services.collection.domain.family import LedgerEntryKind
from services.collection.domain.intake import (
    ApplyPayment,
    NotificationRecord,
    NotificationView,
    RaiseRefund,
    RequestRecord,
    StoredRequest,
    Written,
)
from services.collection.domain.model import ItemStatus, OrderStatus, PaymentOutcome, PaymentResult
from services.collection.domain.payments import ChannelPayment, OrderState, RecordedPayment
from services.collection.repository import item_from_row
from services.common.db import Connection
from services.common.messaging.outbox import OutboxRow
from services.common.money import Fen
from services.common.request_keys import RequestKey


class PaymentIntakeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def read(self, payment: ChannelPayment, key: RequestKey | None) -> NotificationView:
        """Reads the decision's inputs; locks the notified order and its items if it is still undecided."""
        order_id = _uuid_or_none(payment.order_id)
        params = sql.ReadParams(
            order_id=order_id,
            caller=key.caller if key else None,
            method=key.method if key else None,
            request_id=key.request_id if key else None,
            channel=payment.channel.value,
            transaction_id=payment.transaction_id,
        )
        rows = await self._conn.fetch(sql.READ.sql, *sql.READ.args(params))
        first = rows[0]
        order = None
        if first["order_status"] is not None:
            order = OrderState(
                str(order_id),
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
        intent: ApplyPayment,
        request: RequestRecord | None,
        record: NotificationRecord | None,
        event: OutboxRow,
        now: dt.datetime,
    ) -> Written:
        """The payment applied: payment, items paid, order paid, receipt, payment.confirmed, records, and
        the debit of the family account it was paid from."""
        applied = sql.AppliedParams(
            item_ids=[uuid.UUID(i.payable_item_id) for i in intent.items],
            receipt_number=intent.result.receipt_number or "",
            event_id=event.event_id,
            event_type=event.event_type,
            event_envelope=event.envelope,
            event_correlation_id=event.correlation_id,
            family_holder=intent.family_holder,
            ledger_kind=LedgerEntryKind.DEBIT.value,
            item_status=ItemStatus.PAID.value,
            order_status=OrderStatus.PAID.value,
        )
        head = _payment_params(intent.payment, intent.payer, intent.result, now)
        row = await self._conn.fetchrow(
            sql.WRITE_APPLIED.sql,
            *sql.WRITE_APPLIED.args(
                head, _request_params(request), _payment_record_params(record, intent.result), applied
            ),
        )
        return _written(row)

    async def write_refund(
        self, intent: RaiseRefund, request: RequestRecord | None, record: NotificationRecord | None, now: dt.datetime
    ) -> Written:
        """The money kept and its refund raised (R23): payment, refund, records."""
        refund = sql.RefundParams(
            refund_id=uuid.UUID(intent.refund.refund_id),
            refund_reason=intent.refund.reason.value,
            refund_status=intent.refund.status.value,
            refund_requested_by=intent.refund.requested_by,
            refund_note=intent.refund.note,
        )
        head = _payment_params(intent.payment, intent.payer, intent.result, now)
        row = await self._conn.fetchrow(
            sql.WRITE_REFUND.sql,
            *sql.WRITE_REFUND.args(
                head, _request_params(request), _payment_record_params(record, intent.result), refund
            ),
        )
        return _written(row)

    async def write_replay(self, request: RequestRecord | None, record: NotificationRecord) -> Written:
        """A notification answered from an earlier one: its request-id record, when new, and its record."""
        row = await self._conn.fetchrow(
            sql.WRITE_REPLAY.sql, *sql.WRITE_REPLAY.args(_request_params(request), record_params(record))
        )
        return _written(row)

    async def record(self, record: NotificationRecord) -> None:
        """Keeps a notification that changed nothing (refused)."""
        await self._conn.execute(sql.RECORD.sql, *sql.RECORD.args(record_params(record)))


def _payment_params(payment: ChannelPayment, payer: str, result: PaymentResult, now: dt.datetime) -> sql.PaymentParams:
    return sql.PaymentParams(
        payment_id=uuid.UUID(result.payment_id),
        order_id=uuid.UUID(payment.order_id),
        payer=payer,
        channel=payment.channel.value,
        transaction_id=payment.transaction_id,
        amount_fen=payment.amount_fen,
        paid_at=payment.paid_at,
        payment_outcome=result.outcome.value,
        payload_sha256=payment.payload_sha256,
        now=now,
    )


def _request_params(request: RequestRecord | None) -> sql.RequestParams:
    if request is None:
        return sql.RequestParams(None, None, None, None, None)
    key = request.key
    return sql.RequestParams(
        request_caller=key.caller,
        request_method=key.method,
        request_id=key.request_id,
        request_fingerprint=key.fingerprint,
        request_response=request.response,
    )


def _payment_record_params(record: NotificationRecord | None, result: PaymentResult) -> sql.PaymentRecordParams:
    """The record kept in its payment's row, whose outcome is the payment's (tax migration 0012)."""
    if record is None:
        return sql.PaymentRecordParams(None, None, None)
    if record.outcome != result.outcome.value:
        raise ValueError(f"a notification recorded as {record.outcome} cannot write a {result.outcome} payment")
    return sql.PaymentRecordParams(
        record_payload_sha256=record.payload_sha256,
        record_payload_size=record.payload_size,
        record_payload_sample=record.payload_sample,
    )


def record_params(record: NotificationRecord) -> sql.RecordParams:
    """A record's parameters (also what the edge's refusals write, R21b)."""
    p = record.payment
    return sql.RecordParams(
        record_channel=record.channel,
        record_transaction_id=p.transaction_id if p else None,
        record_order_id=p.order_id if p else None,
        record_amount_fen=p.amount_fen if p else None,
        record_paid_at=p.paid_at if p else None,
        record_payload_sha256=record.payload_sha256,
        record_payload_size=record.payload_size,
        record_payload_sample=record.payload_sample,
        record_outcome=record.outcome,
        record_payment_id=uuid.UUID(record.payment_id) if record.payment_id else None,
        record_detail=record.detail,
        received_at=record.received_at,
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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
