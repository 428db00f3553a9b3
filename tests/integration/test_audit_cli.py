"""`medins audit` as an operator runs it, against real databases and the broker: clean on a consistent
picture, exit status 1 for each injected violation, a clear message (no traceback) when a database is
unreachable (R14, R24, R31, R32)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel
from medins.events.v1 import events_pb2

from services.collection.domain.model import ItemStatus
from services.common.clock import CST
from services.common.db import Pool
from services.common.messaging.consumer import DEAD_LETTER_REASON_HEADER
from services.common.messaging.envelope import PAYMENT_CONFIRMED, new_envelope
from services.common.messaging.topology import REGISTRATION_PAYMENT_EVENTS
from tests.factories import unique_resident_id
from tests.infra import Stack
from tests.seeding import assessed_item

MEDINS = Path(sys.executable).parent / "medins"
NOW = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)
REGION = "340800"


def audit(stack: Stack, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MEDINS), "audit", *args],
        env={"PATH": "/usr/bin:/bin", **stack.env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def paid_and_covered(insurance_pool: Pool, tax_pool: Pool) -> str:
    """One person, one year, paid by WeChat and granted: every row both agencies keep. Returns the payment id."""
    number = unique_resident_id()
    enrollment_id, item_id, payment_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with insurance_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO regions (region_code, name, created_at) VALUES ($1, '安庆市', $2) ON CONFLICT DO NOTHING",
            REGION,
            NOW,
        )
        await conn.execute(
            """INSERT INTO enrollments (enrollment_id, resident_id_number, name, phone, birth_date, region_code,
                   category, state, created_at, updated_at)
               VALUES ($1, $2, '审计', '13800138000', '1980-01-01', $3, 'NON_EMPLOYED', 'ACTIVE', $4, $4)""",
            enrollment_id,
            number,
            REGION,
            NOW,
        )
        await conn.execute(
            """INSERT INTO enrollment_years (enrollment_id, insurance_year, status, coverage_start, coverage_end,
                   payable_from, payable_until, window_start, window_end, policy_version, standard_fen, subsidy_fen,
                   paid_by_payment_id, covered_at)
               VALUES ($1, 2024, 'COVERED', '2024-01-01', '2024-12-31', '2023-09-01', '2023-12-31', '2023-09-01',
                   '2023-12-31', 1, 38000, 0, $2, $3)""",
            enrollment_id,
            str(payment_id),
            NOW,
        )
        await conn.execute(
            """INSERT INTO coverage_grants (payment_id, enrollment_id, insurance_year, kind, recorded_at)
               VALUES ($1, $2, 2024, 'GRANT', $3)""",
            str(payment_id),
            enrollment_id,
            NOW,
        )
    async with tax_pool.acquire() as conn:
        await assessed_item(
            conn,
            number,
            NOW,
            name="审计",
            status=ItemStatus.PAID,
            paid_by=payment_id,
            region=REGION,
            enrollment_id=enrollment_id,
            payable_item_id=item_id,
        )
        await conn.execute(
            """INSERT INTO payments (payment_id, payer_id_number, channel, channel_transaction_id, amount_fen,
                   paid_at, outcome, created_at)
               VALUES ($1, $2, 'WECHAT', $3, 38000, $4, 'APPLIED', $4)""",
            payment_id,
            number,
            f"4200{payment_id.hex[:20]}",
            NOW,
        )
        await conn.execute(
            "INSERT INTO payment_items (payment_id, payable_item_id, amount_fen) VALUES ($1, $2, 38000)",
            payment_id,
            item_id,
        )
        await conn.execute(
            "INSERT INTO receipts (receipt_number, payment_id, issued_at) VALUES ($1, $2, $3)",
            f"R{payment_id.hex[:12]}",
            payment_id,
            NOW,
        )
        envelope = new_envelope(
            PAYMENT_CONFIRMED,
            events_pb2.PaymentConfirmed(payment_id=str(payment_id), amount_fen=38000),
            producer="collection",
            correlation_id="audit-test",
            occurred_at=NOW,
        )
        await conn.execute(
            """INSERT INTO outbox (event_id, event_type, envelope, correlation_id, published_at)
               VALUES ($1, $2, $3, 'audit-test', now())""",
            envelope.event_id,
            envelope.event_type,
            envelope.SerializeToString(),
        )
    return str(payment_id)


async def test_a_consistent_picture_audits_clean(stack: Stack, insurance_pool: Pool, tax_pool: Pool) -> None:
    await paid_and_covered(insurance_pool, tax_pool)
    result = audit(stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit clean" in result.stdout


async def test_a_payment_whose_grant_is_missing_fails_the_audit(
    stack: Stack, insurance_pool: Pool, tax_pool: Pool
) -> None:
    payment_id = await paid_and_covered(insurance_pool, tax_pool)
    async with insurance_pool.acquire() as conn:
        await conn.execute("DELETE FROM coverage_grants WHERE payment_id = $1", payment_id)
    result = audit(stack)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"payment {payment_id} has 0 net grant(s)" in result.stdout


async def test_a_receipt_left_live_after_a_succeeded_refund_fails_the_audit(
    stack: Stack, insurance_pool: Pool, tax_pool: Pool
) -> None:
    payment_id = await paid_and_covered(insurance_pool, tax_pool)
    async with tax_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO refunds (refund_id, payment_id, channel, amount_fen, reason, status, next_attempt_at,
                   created_at, updated_at) VALUES ($1, $2, 'WECHAT', 38000, 'REQUESTED', 'SUCCEEDED', $3, $3, $3)""",
            uuid.uuid4(),
            uuid.UUID(payment_id),
            NOW,
        )
    result = audit(stack)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"payment {payment_id} was refunded but its receipt is not reversed" in result.stdout


async def test_an_outbox_row_unpublished_past_the_threshold_fails_the_audit(stack: Stack, insurance_pool: Pool) -> None:
    async with insurance_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO outbox (event_id, event_type, envelope, correlation_id, created_at)
               VALUES ($1, 'enrollment.registered', '\\x00', 'audit-test', now() - interval '2 minutes')""",
            uuid.uuid4(),
        )
    assert audit(stack, "--outbox-threshold", "300").returncode == 0
    result = audit(stack)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "insurance outbox row 1 (enrollment.registered) unpublished for 12" in result.stdout, result.stdout


async def test_a_parked_message_fails_the_audit_unless_allowed_with_its_reason(
    stack: Stack, channel: AbstractChannel
) -> None:
    await channel.default_exchange.publish(
        aio_pika.Message(
            b"\x00", message_id="m-parked", headers={DEAD_LETTER_REASON_HEADER: "retries exhausted: LookupError"}
        ),
        routing_key=REGISTRATION_PAYMENT_EVENTS.dlq,
    )
    result = audit(stack)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "m-parked" in result.stdout and "retries exhausted: LookupError" in result.stdout
    allowed = audit(stack, "--allow-dlq")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "parked: registration.payment-events.dlq m-parked" in allowed.stdout
    queue = await channel.declare_queue(REGISTRATION_PAYMENT_EVENTS.dlq, passive=True)
    assert queue.declaration_result.message_count == 1  # the audit only looked


def test_an_unreachable_database_is_said_plainly(stack: Stack) -> None:
    result = audit(stack, env={"MEDINS_TAX_DB": "medins_no_such_db"})
    assert result.returncode == 2
    assert "cannot reach the tax database" in result.stderr and "medins_no_such_db" in result.stderr
    assert "Traceback" not in result.stderr
