"""Between the agencies, with event delivery in the test's hands (both real databases, the real
handlers, no broker): a stop held back while the payer pays (R14a), events about one person delivered
in the wrong order (R17a), a family account refund (R20a), and a refund worker that crashes between
its steps. Each event is taken from its producer's outbox and given to the consumer's handler as the
consumer process would."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping

import pytest
from medins.events.v1 import events_pb2

from services.collection.domain.agreements import Relationship
from services.collection.domain.model import Channel, PaymentOutcome, RefundStatus
from services.collection.domain.payments import ChannelPayment
from services.collection.enrollment_events import enrollment_event_handlers
from services.collection.handlers.family import bind_member
from services.collection.handlers.orders import create_order
from services.collection.handlers.records import update_family_account
from services.collection.handlers.refunds import (
    notify_refund_result,
    request_refund,
    submit_due_refunds,
)
from services.collection.payment_intake import settle_payment
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import CST, FixedClock
from services.common.db import Pool, UnitOfWork
from services.common.messaging.envelope import EventNotReady, parse_envelope
from services.common.money import Fen
from services.registration.domain.model import (
    Category,
    Evidence,
    EvidenceKind,
    Region,
    ReviewMode,
    StopReason,
)
from services.registration.handlers.coverage import payment_event_handlers
from services.registration.handlers.registration import Application, register_resident
from services.registration.handlers.stop import StopEnrollment, stop_enrollment
from services.registration.unit_of_work import RegistrationUnitOfWork
from tests.factories import resident_id
from tests.integration.insurance_setup import regions_selling_2027

D = dt.date
X, Y = Region("340800", "安庆市"), Region("320400", "常州市")
HOUSEHOLD = (Evidence(EvidenceKind.HOUSEHOLD_REGISTER, "HR-1"),)
CLOCK = FixedClock(dt.datetime(2026, 10, 8, 10, tzinfo=CST))
TTL = dt.timedelta(minutes=1)
Handlers = Mapping[str, Callable[[events_pb2.EventEnvelope, UnitOfWork], Awaitable[None]]]


class Events:
    """Each agency's outbox, read in order; the test decides when each event is delivered."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._seen = 0

    async def new(self, event_type: str | None = None) -> list[events_pb2.EventEnvelope]:
        rows = await self._pool.fetch("SELECT id, envelope FROM outbox WHERE id > $1 ORDER BY id", self._seen)
        if rows:
            self._seen = rows[-1]["id"]
        found = [parse_envelope(bytes(r["envelope"])) for r in rows]
        return [e for e in found if event_type is None or e.event_type == event_type]


async def deliver(
    pool: Pool, uow_type: type[UnitOfWork], handlers: Mapping[str, object], envelope: events_pb2.EventEnvelope
) -> None:
    handler = handlers[envelope.event_type]
    async with uow_type(pool) as uow:
        await handler(envelope, uow)  # type: ignore[operator]
        await uow.commit()


async def set_up(insurance: Pool) -> None:
    await regions_selling_2027(insurance, CLOCK, {X: ReviewMode.AUTOMATIC, Y: ReviewMode.AUTOMATIC})


async def register(insurance: Pool, number: str, region: Region) -> str:
    async with RegistrationUnitOfWork(insurance) as uow:
        enrollment = await register_resident(
            Application(0, number, "王五", "13700137000", region.code, None, Category.NON_EMPLOYED, HOUSEHOLD),
            uow,
            CLOCK,
        )
        await uow.commit()
    return enrollment.enrollment_id


async def stop(insurance: Pool, enrollment_id: str) -> None:
    async with RegistrationUnitOfWork(insurance) as uow:
        await stop_enrollment(StopEnrollment(enrollment_id, StopReason.MOVED_AWAY, ""), uow, CLOCK)
        await uow.commit()


async def pay(tax: Pool, payer: str, item_ids: list[str], channel: Channel = Channel.WECHAT, **extra: str) -> str:
    async with CollectionUnitOfWork(tax) as uow:
        order = await create_order(payer, item_ids, uow, CLOCK, TTL)
        await uow.commit()
    payment = ChannelPayment(
        channel=channel,
        transaction_id=f"T-{uuid.uuid4().hex[:12]}",
        order_id=order.order_id,
        amount_fen=Fen(order.total_fen),
        paid_at=CLOCK.now(),
        payload_sha256=hashlib.sha256(order.order_id.encode()).digest(),
        family_holder_id_number=extra.get("holder"),
    )
    async with CollectionUnitOfWork(tax) as uow:
        result = await settle_payment(uow, payment, CLOCK, dt.timedelta(seconds=5))
        await uow.commit()
    assert result.outcome is PaymentOutcome.APPLIED
    return result.payment_id


async def items_of(tax: Pool, number: str) -> list[tuple[str, str, str | None]]:
    rows = await tax.fetch(
        """SELECT payable_item_id, status, note FROM payable_items WHERE resident_id_number = $1
           ORDER BY created_at, payable_item_id""",
        number,
    )
    return [(str(r["payable_item_id"]), r["status"], r["note"]) for r in rows]


async def test_a_payment_for_a_year_a_stop_cancelled_is_refunded_and_its_receipt_reversed(
    insurance_pool: Pool, tax_pool: Pool
) -> None:
    """R14a: the stop reaches tax late; the payer pays meanwhile; insurance refuses the grant and says
    so; tax refunds automatically, reverses the receipt and records why on the item."""
    await set_up(insurance_pool)
    from_insurance, from_tax = Events(insurance_pool), Events(tax_pool)
    assess, cover = enrollment_event_handlers(CLOCK), payment_event_handlers(CLOCK)
    number = resident_id(D(1980, 1, 1))
    enrollment_id = await register(insurance_pool, number, X)
    for event in await from_insurance.new():
        await deliver(tax_pool, CollectionUnitOfWork, assess, event)
    await stop(insurance_pool, enrollment_id)
    (held_back,) = await from_insurance.new("enrollment.stopped")

    ((item_id, status, _),) = await items_of(tax_pool, number)
    assert status == "UNPAID"
    payment_id = await pay(tax_pool, number, [item_id])
    (confirmed,) = await from_tax.new("payment.confirmed")
    await deliver(insurance_pool, RegistrationUnitOfWork, cover, confirmed)
    assert not await insurance_pool.fetchval("SELECT count(*) FROM coverage_grants")
    (refused,) = await from_insurance.new("coverage.refused")
    assert refused.coverage_refused.reason == events_pb2.COVERAGE_REFUSAL_REASON_YEAR_CANCELLED
    await deliver(tax_pool, CollectionUnitOfWork, assess, refused)
    await deliver(tax_pool, CollectionUnitOfWork, assess, held_back)  # the stop arrives at last

    refund = await tax_pool.fetchrow("SELECT refund_id, reason, status FROM refunds WHERE payment_id = $1", payment_id)
    assert refund is not None
    assert (refund["reason"], refund["status"]) == ("COVERAGE_REFUSED", "PENDING")
    assert await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, _AcceptingGateway()) == 1
    async with CollectionUnitOfWork(tax_pool) as uow:
        await notify_refund_result(str(refund["refund_id"]), "WX-R-1", True, "", uow, CLOCK)
        await uow.commit()
    assert await tax_pool.fetchval("SELECT reversed_at IS NOT NULL FROM receipts WHERE payment_id = $1", payment_id)
    ((_, status, note),) = await items_of(tax_pool, number)
    assert status == "CANCELLED" and note is not None and "YEAR_CANCELLED" in note
    (refunded,) = await from_tax.new("payment.refunded")
    await deliver(insurance_pool, RegistrationUnitOfWork, cover, refunded)
    assert not await insurance_pool.fetchval("SELECT count(*) FROM coverage_grants")


async def test_a_registration_in_y_delivered_before_the_stop_in_x_waits_for_it(
    insurance_pool: Pool, tax_pool: Pool
) -> None:
    """R17a: stop in X and registration in Y arrive in the wrong order → Y's event is retried, never
    skipped; once the stop is applied, Y's year is payable and X's item is cancelled."""
    await set_up(insurance_pool)
    from_insurance = Events(insurance_pool)
    assess = enrollment_event_handlers(CLOCK)
    number = resident_id(D(1980, 1, 1))
    in_x = await register(insurance_pool, number, X)
    for event in await from_insurance.new():
        await deliver(tax_pool, CollectionUnitOfWork, assess, event)
    await stop(insurance_pool, in_x)
    await register(insurance_pool, number, Y)
    stopped_x, registered_y = await from_insurance.new()
    assert (stopped_x.event_type, registered_y.event_type) == ("enrollment.stopped", "enrollment.registered")
    with pytest.raises(EventNotReady):  # the consumer sends it to a retry tier
        await deliver(tax_pool, CollectionUnitOfWork, assess, registered_y)
    await deliver(tax_pool, CollectionUnitOfWork, assess, stopped_x)
    await deliver(tax_pool, CollectionUnitOfWork, assess, registered_y)  # the retry
    rows = await tax_pool.fetch(
        "SELECT region_code, status FROM payable_items WHERE resident_id_number = $1 ORDER BY region_code", number
    )
    assert [(r["region_code"], r["status"]) for r in rows] == [(Y.code, "UNPAID"), (X.code, "CANCELLED")]


async def test_a_refunded_family_account_payment_goes_back_to_the_account(insurance_pool: Pool, tax_pool: Pool) -> None:
    """R20a: debited on payment, credited on refund, each a ledger entry."""
    await set_up(insurance_pool)
    from_insurance = Events(insurance_pool)
    number, holder = resident_id(D(1980, 1, 1)), resident_id(D(1955, 5, 5))
    await register(insurance_pool, number, X)
    for event in await from_insurance.new():
        await deliver(tax_pool, CollectionUnitOfWork, enrollment_event_handlers(CLOCK), event)
    async with CollectionUnitOfWork(tax_pool) as uow:
        await update_family_account(holder, 100000, uow, CLOCK)
        await bind_member(holder, "王大", number, "王五", Relationship.CHILD, uow, CLOCK)  # R46
        await uow.commit()
    ((item_id, _, _),) = await items_of(tax_pool, number)
    payment_id = await pay(tax_pool, number, [item_id], Channel.FAMILY_MUTUAL_AID, holder=holder)
    assert await tax_pool.fetchval("SELECT balance_fen FROM family_accounts") == 60000
    async with CollectionUnitOfWork(tax_pool) as uow:
        await request_refund(payment_id, "officer-1", "wrong person", uow, CLOCK)
        await uow.commit()
    assert await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, _AcceptingGateway()) == 1
    assert await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, _AcceptingGateway()) == 0
    assert await tax_pool.fetchval("SELECT balance_fen FROM family_accounts") == 100000
    ledger = await tax_pool.fetch("SELECT kind, amount_fen, balance_after_fen FROM family_account_entries ORDER BY 1")
    assert sorted((r["kind"], r["amount_fen"], r["balance_after_fen"]) for r in ledger) == [
        ("CREDIT", 40000, 100000),
        ("DEBIT", 40000, 60000),
        ("SET", 100000, 100000),
    ]
    assert await tax_pool.fetchval("SELECT status FROM refunds") == RefundStatus.SUCCEEDED.value


class _AcceptingGateway:
    """A channel that accepts every refund, idempotent by refund id; counts the calls per refund."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    async def submit(self, refund: object) -> str:
        refund_id = str(getattr(refund, "refund_id"))  # noqa: B009 - the Refund type, without importing it twice
        self.calls[refund_id] = self.calls.get(refund_id, 0) + 1
        return f"CH-{refund_id[:8]}"


class _CrashingGateway(_AcceptingGateway):
    """The process dies after the channel accepted the refund, before we record it."""

    async def submit(self, refund: object) -> str:
        await super().submit(refund)
        raise SystemExit("killed")


async def test_a_refund_worker_killed_between_the_call_and_its_record_resends_once_the_lease_ends(
    insurance_pool: Pool, tax_pool: Pool
) -> None:
    """The gateway is called with no transaction open; a crash between call and record leaves the refund
    SUBMITTING, due again only after its lease, and the channel deduplicates by refund id."""
    await set_up(insurance_pool)
    from_insurance = Events(insurance_pool)
    number = resident_id(D(1980, 1, 1))
    await register(insurance_pool, number, X)
    for event in await from_insurance.new():
        await deliver(tax_pool, CollectionUnitOfWork, enrollment_event_handlers(CLOCK), event)
    ((item_id, _, _),) = await items_of(tax_pool, number)
    payment_id = await pay(tax_pool, number, [item_id])
    async with CollectionUnitOfWork(tax_pool) as uow:
        refund = await request_refund(payment_id, "officer-1", "", uow, CLOCK)
        await uow.commit()
    crashing = _CrashingGateway()
    with pytest.raises(SystemExit):
        await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, crashing)
    assert await tax_pool.fetchval("SELECT status FROM refunds") == "SUBMITTING"
    no_crash = _AcceptingGateway()
    assert (
        await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), CLOCK, 10, no_crash) == 0
    )  # the lease still holds
    later = FixedClock(CLOCK.now() + dt.timedelta(minutes=3))
    assert await submit_due_refunds(lambda: CollectionUnitOfWork(tax_pool), later, 10, no_crash) == 1
    row = await tax_pool.fetchrow("SELECT status, attempts, channel_refund_id FROM refunds")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("SUBMITTED", 2)
    assert row["channel_refund_id"] == f"CH-{refund.refund_id[:8]}"
    assert crashing.calls == no_crash.calls == {refund.refund_id: 1}
