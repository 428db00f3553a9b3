"""Tax migration 0012 (issue 23 item 2, R21b): the notification that wrote a payment is kept in the
payment's row, every other notification in notification_records, and channel_notifications shows every
notification as it did before, records written before the migration included."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.common.migrations import migrate, migrations_for
from tests.infra import Stack, scratch_database

MIGRATION = "tax/0012_notification_in_its_payment.sql"
AT = dt.datetime(2026, 12, 4, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
async def tax(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    async with scratch_database(stack, "tax_0012") as conn:
        yield conn


async def _payment(conn: asyncpg.Connection, transaction: str, outcome: str, payload: bytes) -> uuid.UUID:
    payment_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO payments (payment_id, channel, channel_transaction_id, amount_fen, paid_at, outcome,
               payload_sha256, created_at)
           VALUES ($1, 'WECHAT', $2, 38000, $3, $4, $5, $3)""",
        payment_id,
        transaction,
        AT,
        outcome,
        hashlib.sha256(payload).digest(),
    )
    return payment_id


async def _record(
    conn: asyncpg.Connection, transaction: str | None, outcome: str, payload: bytes, payment_id: uuid.UUID | None
) -> None:
    await conn.execute(
        """INSERT INTO channel_notifications (channel, channel_transaction_id, order_id, amount_fen, paid_at,
               payload_sha256, payload_size, payload_sample, outcome, payment_id, detail, received_at)
           VALUES ('WECHAT', $1, NULL, 38000, $2, $3, $4, $5, $6, $7, $8, $2)""",
        transaction,
        AT,
        hashlib.sha256(payload).digest(),
        len(payload),
        payload[:16].decode(),
        outcome,
        payment_id,
        None if payment_id else "AMOUNT_MISMATCH: 380.00 yuan is not the order's 420.00",
    )


_SHOWN = """SELECT notification_id, channel, channel_transaction_id, order_id, amount_fen, paid_at, payload_sha256,
                   outcome, payment_id, detail, received_at, payload_size, payload_sample
            FROM channel_notifications ORDER BY notification_id"""


async def test_records_written_before_the_migration_read_the_same_after_it(tax: asyncpg.Connection) -> None:
    every = migrations_for("tax")
    before = [m for m in every if m.name < MIGRATION]
    assert next(m.name for m in every if m.name >= MIGRATION) == MIGRATION
    await migrate(tax, before)
    applied = await _payment(tax, "4200001", "APPLIED", b'{"id":"applied"}')
    await _record(tax, "4200001", "APPLIED", b'{"id":"applied"}', applied)
    await _record(tax, "4200001", "DUPLICATE_REPLAYED", b'{"id":"applied again"}', applied)
    await _record(tax, "4200002", "AMOUNT_MISMATCH", b'{"id":"short"}', None)
    refunded = await _payment(tax, "4200003", "REFUND_RAISED", b'{"id":"late"}')
    await _record(tax, "4200003", "REFUND_RAISED", b'{"id":"late"}', refunded)
    await _record(tax, None, "MALFORMED", b"<xml>not json", None)
    shown_before = [tuple(r) for r in await tax.fetch(_SHOWN)]

    await migrate(tax, every)

    assert [tuple(r) for r in await tax.fetch(_SHOWN)] == shown_before
    kept_apart = await tax.fetch("SELECT outcome FROM notification_records ORDER BY notification_id")
    assert [r["outcome"] for r in kept_apart] == ["DUPLICATE_REPLAYED", "AMOUNT_MISMATCH", "MALFORMED"]
    in_payments = await tax.fetch(
        "SELECT payment_id, notification_sha256 FROM payments WHERE notification_id IS NOT NULL ORDER BY 1"
    )
    assert sorted(r["payment_id"] for r in in_payments) == sorted([applied, refunded])
    assert all(r["notification_sha256"] is None for r in in_payments), "the hash is the payment's: kept once"


async def test_a_record_whose_hash_is_not_its_payments_keeps_its_own(tax: asyncpg.Connection) -> None:
    await migrate(tax, [m for m in migrations_for("tax") if m.name < MIGRATION])
    applied = await _payment(tax, "4200004", "APPLIED", b"the decrypted resource")
    await _record(tax, "4200004", "APPLIED", b"the callback as it came", applied)

    await migrate(tax, migrations_for("tax"))

    shown = await tax.fetchrow("SELECT payload_sha256 FROM channel_notifications WHERE payment_id = $1", applied)
    assert shown is not None and shown["payload_sha256"] == hashlib.sha256(b"the callback as it came").digest()
    assert await tax.fetchval("SELECT count(*) FROM notification_records") == 0
