"""An in-memory collection unit of work (cosmicpython's FakeUnitOfWork) implementing services/collection's
ports: orders, refunds, agreements, reminders and reconciliation run against it in milliseconds. It keeps
the contracts of the SQL repositories that the use cases rely on (an item held by one pending order at a
time, one live refund per payment, one active agreement per insured person, one reminder round per window,
a transaction rolled back unless committed); the integration and end-to-end suites cover the SQL.

The payment intake is not faked: it runs on a real database (tests/integration)."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self, cast

from google.protobuf.message import Message

from services.collection import ports
from services.collection.domain.agreements import Agreement, AgreementStatus, EncryptedCard, StoredCard
from services.collection.domain.model import (
    Channel,
    EnrollmentState,
    FamilyAccount,
    FeeType,
    InsuredPerson,
    ItemStatus,
    Order,
    OrderStatus,
    PayableItem,
    PaymentOutcome,
    Receipt,
    Refund,
    RefundStatus,
)
from services.collection.domain.orders import EXPIRED, is_overdue
from services.collection.domain.payments import OrderState
from services.collection.domain.reconciliation import (
    Finding,
    OurPayment,
    Outcome,
    RefusedNotification,
    ReportVersion,
    SettlementLine,
)
from services.collection.domain.refunds import NOT_LIVE, NewRefund, PaidItem, PaymentToRefund
from services.collection.domain.reminders import PendingReminder, ReminderStatus, Window
from services.common.messaging.envelope import EventType
from services.common.money import Fen
from services.common.periods import DateRange


@dataclass
class TaxState:
    """Everything the fake repositories share: the tax database, in memory."""

    persons: dict[str, InsuredPerson] = field(default_factory=dict)
    items: dict[str, PayableItem] = field(default_factory=dict)
    holds: dict[str, str] = field(default_factory=dict)  # item id → the pending order holding it
    notes: dict[str, str] = field(default_factory=dict)  # item id → note
    orders: dict[str, Order] = field(default_factory=dict)
    payments: dict[str, PaymentToRefund] = field(default_factory=dict)
    paid: dict[str, list[PaidItem]] = field(default_factory=dict)  # payment id → what it paid
    enrollment_states: dict[str, EnrollmentState] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    next_attempt: dict[str, dt.datetime] = field(default_factory=dict)
    accounts: dict[str, FamilyAccount] = field(default_factory=dict)
    debited_from: dict[str, str] = field(default_factory=dict)  # payment id → family account holder
    credited_refunds: set[str] = field(default_factory=set)
    agreements: dict[str, tuple[Agreement, bytes, EncryptedCard]] = field(default_factory=dict)
    rounds: dict[tuple[str, int, dt.date], str] = field(default_factory=dict)
    reminders: dict[str, tuple[str, tuple[str, int, dt.date], ReminderStatus]] = field(default_factory=dict)
    uploads: dict[tuple[Channel, dt.date, str], int] = field(default_factory=dict)
    chunks: dict[tuple[Channel, dt.date, str], set[int]] = field(default_factory=dict)
    lines: dict[tuple[Channel, dt.date, str], dict[int, SettlementLine]] = field(default_factory=dict)
    settled: list[tuple[Channel, dt.datetime, OurPayment]] = field(default_factory=list)
    refused: list[tuple[Channel, dt.datetime, RefusedNotification]] = field(default_factory=list)
    reports: dict[tuple[Channel, dt.date], list[tuple[ReportVersion, list[Finding]]]] = field(default_factory=dict)
    events: list[tuple[str, Message]] = field(default_factory=list)

    def item(self, item_id: str) -> PayableItem:
        """An item as the repositories read it: with the pending order holding it, if any."""
        return replace(self.items[item_id], pending_order_id=self.holds.get(item_id))


@dataclass
class FakeItems:
    s: TaxState

    async def get_person(self, number: str) -> InsuredPerson | None:
        return self.s.persons.get(number)

    async def items_of_person(
        self, number: str, *, include_settled: bool, after: ports.ItemCursor | None, limit: int
    ) -> tuple[str, list[PayableItem]] | None:
        person = self.s.persons.get(number)
        if person is None:
            return None
        listed = sorted(
            (
                i
                for i in map(self.s.item, self.s.items)
                if i.resident_id_number == number and (include_settled or i.status is ItemStatus.UNPAID)
            ),
            key=_item_key,
        )
        return person.name, [i for i in listed if after is None or _item_key(i) > after][:limit]

    async def unpaid_items_of(self, numbers: Sequence[str], year: int, fee_type: FeeType) -> dict[str, PayableItem]:
        return {
            i.resident_id_number: i
            for i in map(self.s.item, self.s.items)
            if i.resident_id_number in numbers
            and (i.insurance_year, i.fee_type, i.status) == (year, fee_type, ItemStatus.UNPAID)
        }

    async def names_of(self, numbers: Sequence[str]) -> dict[str, str]:
        return {n: self.s.persons[n].name for n in numbers if n in self.s.persons}


def _item_key(item: PayableItem) -> ports.ItemCursor:
    return item.insurance_year, item.fee_type.value, item.payable_item_id


@dataclass
class FakeOrders:
    s: TaxState

    async def expire_overdue(self, now: dt.datetime, limit: int, item_ids: Sequence[str] = ()) -> list[str]:
        overdue = sorted(
            (
                o
                for o in self.s.orders.values()
                if is_overdue(o.status, o.expires_at, now)
                and (not item_ids or any(self.s.holds.get(i) == o.order_id for i in item_ids))
            ),
            key=lambda o: o.expires_at,
        )[:limit]
        for order in overdue:
            self._expire(order.order_id, now)
        return [o.order_id for o in overdue]

    def _expire(self, order_id: str, now: dt.datetime) -> None:
        self.s.orders[order_id] = replace(self.s.orders[order_id], status=EXPIRED)
        self.s.holds = {i: o for i, o in self.s.holds.items() if o != order_id}

    async def lock_items(self, item_ids: Sequence[str]) -> list[PayableItem]:
        return [self.s.item(i) for i in sorted(item_ids) if i in self.s.items]

    async def insert(self, order: Order, items: Sequence[PayableItem]) -> bool:
        if any(i.payable_item_id in self.s.holds for i in items):
            return False  # the unique index on held lines: the caller refuses and rolls back
        self.s.orders[order.order_id] = order
        self.s.holds.update((i.payable_item_id, order.order_id) for i in items)
        return True

    async def expire_now(self, order_id: str, now: dt.datetime) -> None:
        if self.s.orders[order_id].status is OrderStatus.PENDING:
            self._expire(order_id, now)
        self.s.holds = {i: o for i, o in self.s.holds.items() if o != order_id}

    async def lock(self, order_id: str) -> OrderState | None:
        o = self.s.orders.get(order_id)
        return OrderState(o.order_id, o.status, o.total_fen, o.payer_id_number) if o else None

    async def get(self, order_id: str) -> Order | None:
        return self.s.orders.get(order_id)

    async def list_for_payer(
        self, payer: str, status: OrderStatus | None, after: tuple[str, str] | None, limit: int
    ) -> list[Order]:
        mine = sorted(
            (o for o in self.s.orders.values() if o.payer_id_number == payer and status in (None, o.status)),
            key=lambda o: (o.created_at, o.order_id),
            reverse=True,
        )
        if after is not None:
            cursor = (dt.datetime.fromisoformat(after[0]), after[1])
            mine = [o for o in mine if (o.created_at, o.order_id) < cursor]
        return mine[:limit]


@dataclass
class FakePayments:
    s: TaxState

    async def receipt(self, payer: str, *, number: str | None = None, order_id: str | None = None) -> Receipt | None:
        raise NotImplementedError("receipts are written by the payment intake, which runs on a database only")

    async def credit_family_account(self, payment_id: str, refund_id: str, amount: Fen, now: dt.datetime) -> bool:
        holder = self.s.debited_from.get(payment_id)
        if holder is None or refund_id in self.s.credited_refunds:
            return False
        self.s.credited_refunds.add(refund_id)
        self.s.accounts[holder] = FamilyAccount(holder, Fen(self.s.accounts[holder].balance_fen + amount), now)
        return True

    async def family_account(self, holder: str) -> FamilyAccount | None:
        return self.s.accounts.get(holder)

    async def set_family_account(self, holder: str, balance: Fen, now: dt.datetime) -> FamilyAccount:
        self.s.accounts[holder] = FamilyAccount(holder, balance, now)
        return self.s.accounts[holder]


@dataclass
class FakeRefunds:
    s: TaxState

    async def raise_refund(self, refund: NewRefund) -> bool:
        if any(r.payment_id == refund.payment_id and r.status is not NOT_LIVE for r in self.s.refunds.values()):
            return False  # refunds_one_live_per_payment
        self.s.refunds[refund.refund_id] = Refund(
            refund.refund_id,
            refund.payment_id,
            refund.channel,
            refund.amount_fen,
            refund.reason,
            refund.status,
            attempts=0,
            created_at=refund.raised_at,
            updated_at=refund.raised_at,
        )
        self.s.next_attempt[refund.refund_id] = refund.raised_at
        return True

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        return self.s.refunds.get(refund_id)

    async def list_refunds(
        self, status: RefundStatus | None, after: tuple[str, str] | None, limit: int, *, payer: str | None = None
    ) -> list[Refund]:
        listed = sorted(
            (r for r in self.s.refunds.values() if status in (None, r.status) and self._paid_by(r, payer)),
            key=lambda r: (r.created_at, r.refund_id),
        )
        if after is not None:
            cursor = (dt.datetime.fromisoformat(after[0]), after[1])
            listed = [r for r in listed if (r.created_at, r.refund_id) > cursor]
        return listed[:limit]

    def _paid_by(self, refund: Refund, payer: str | None) -> bool:
        if payer is None:
            return True
        payment = self.s.payments.get(refund.payment_id)
        order = self.s.orders.get(payment.order_id) if payment and payment.order_id else None
        return order is not None and order.payer_id_number == payer

    async def claim_due(
        self, statuses: Collection[RefundStatus], now: dt.datetime, lease_until: dt.datetime, limit: int
    ) -> list[Refund]:
        due = sorted(
            (r for r in self.s.refunds.values() if r.status in statuses and self.s.next_attempt[r.refund_id] <= now),
            key=lambda r: self.s.next_attempt[r.refund_id],
        )[:limit]
        claimed = []
        for r in due:
            claimed.append(replace(r, status=RefundStatus.SUBMITTING, attempts=r.attempts + 1, updated_at=now))
            self.s.refunds[r.refund_id] = claimed[-1]
            self.s.next_attempt[r.refund_id] = lease_until
        return claimed

    async def set_state(
        self,
        refund_id: str,
        status: RefundStatus,
        now: dt.datetime,
        *,
        next_attempt_at: dt.datetime | None = None,
        channel_refund_id: str | None = None,
        failure_reason: str | None = None,
        attempted: bool = False,
    ) -> None:
        r = self.s.refunds[refund_id]
        self.s.refunds[refund_id] = replace(
            r,
            status=status,
            updated_at=now,
            channel_refund_id=channel_refund_id or r.channel_refund_id,
            failure_reason=failure_reason or r.failure_reason,
            attempts=r.attempts + attempted,
        )
        if next_attempt_at is not None:
            self.s.next_attempt[refund_id] = next_attempt_at

    async def payment_of(self, payment_id: str) -> PaymentToRefund | None:
        return self.s.payments.get(payment_id)

    async def paid_items(self, payment_id: str) -> list[PaidItem]:
        return sorted(self.s.paid.get(payment_id, []), key=lambda i: i.payable_item_id)

    async def reverse_payment(
        self, payment_id: str, item_statuses: Mapping[str, ItemStatus], note: str | None, now: dt.datetime
    ) -> None:
        self.s.payments[payment_id] = replace(self.s.payments[payment_id], reversed_at=now)
        for item_id, status in item_statuses.items():
            item = self.s.items[item_id]
            if item.paid_by_payment_id == payment_id:
                self.s.items[item_id] = replace(item, status=status, paid_by_payment_id=None)
                if note is not None:
                    self.s.notes.setdefault(item_id, note)

    async def enrollment_states(self, enrollment_ids: Sequence[str]) -> dict[str, EnrollmentState]:
        return {e: self.s.enrollment_states[e] for e in enrollment_ids if e in self.s.enrollment_states}

    async def note_items(self, item_ids: Sequence[str], note: str, now: dt.datetime) -> None:
        self.s.notes.update(dict.fromkeys(item_ids, note))


@dataclass
class FakeAgreements:
    s: TaxState

    def _set(self, agreement_id: str, **changes: Any) -> None:
        agreement, digest, card = self.s.agreements[agreement_id]
        self.s.agreements[agreement_id] = (replace(agreement, **changes), digest, card)

    async def insert(self, agreement: Agreement, card: EncryptedCard, code_digest: bytes, now: dt.datetime) -> None:
        self.s.agreements[agreement.agreement_id] = (agreement, code_digest, card)

    async def get(self, agreement_id: str, *, for_update: bool = False) -> tuple[Agreement, bytes] | None:
        found = self.s.agreements.get(agreement_id)
        return (found[0], found[1]) if found else None

    async def list_for_payer(self, payer: str) -> list[Agreement]:
        mine = [a for a, _, _ in self.s.agreements.values() if a.payer_id_number == payer]
        return sorted(mine, key=lambda a: (a.created_at, a.agreement_id), reverse=True)[:100]

    async def active_for_insured(self, insured: str) -> str | None:
        return next((a.agreement_id for a in self._active() if a.insured_id_number == insured), None)

    def _active(self) -> list[Agreement]:
        return [a for a, _, _ in self.s.agreements.values() if a.status is AgreementStatus.ACTIVE]

    async def activate(self, agreement_id: str, now: dt.datetime) -> bool:
        insured = self.s.agreements[agreement_id][0].insured_id_number
        if any(a.insured_id_number == insured and a.agreement_id != agreement_id for a in self._active()):
            return False  # deduction_agreements_one_active
        self._set(agreement_id, status=AgreementStatus.ACTIVE, activated_at=now)
        return True

    async def count_wrong_code(self, agreement_id: str, lock: bool, now: dt.datetime) -> int:
        agreement = self.s.agreements[agreement_id][0]
        if agreement.status is not AgreementStatus.PENDING_VERIFICATION:
            return 0
        status = AgreementStatus.LOCKED if lock else agreement.status
        self._set(agreement_id, wrong_code_attempts=agreement.wrong_code_attempts + 1, status=status)
        return agreement.wrong_code_attempts + 1

    async def set_status(self, agreement_id: str, status: AgreementStatus, now: dt.datetime) -> None:
        self._set(agreement_id, status=status)

    async def card(self, agreement_id: str) -> StoredCard:
        card = self.s.agreements[agreement_id][2]
        return StoredCard(agreement_id, card.key_id, card.ciphertext)

    async def cards_not_under(self, key_id: str, limit: int) -> list[StoredCard]:
        ids = sorted(i for i, (_, _, c) in self.s.agreements.items() if c.key_id != key_id)[:limit]
        return [await self.card(i) for i in ids]

    async def replace_card(self, agreement_id: str, card: EncryptedCard, now: dt.datetime) -> None:
        agreement, digest, _ = self.s.agreements[agreement_id]
        self.s.agreements[agreement_id] = (agreement, digest, card)

    async def active_after(self, after: str | None, limit: int) -> list[str]:
        return sorted(a.agreement_id for a in self._active() if after is None or a.agreement_id > after)[:limit]

    async def lock_active(self, agreement_id: str) -> Agreement | None:
        found = self.s.agreements.get(agreement_id)
        return found[0] if found and found[0].status is AgreementStatus.ACTIVE else None

    async def set_failed_runs(self, agreement_id: str, failed_runs: int, now: dt.datetime) -> None:
        self._set(agreement_id, failed_deduction_runs=failed_runs)


@dataclass
class FakeReminders:
    s: TaxState

    async def open_windows(self, today: dt.date) -> list[Window]:
        return sorted(
            {
                Window(i.region_code, i.insurance_year, i.collection_window.end)
                for i in self.s.items.values()
                if i.status is ItemStatus.UNPAID and i.collection_window.end >= today
            },
            key=lambda w: (w.window_end, w.region_code, w.insurance_year),
        )

    def _owed_now(self, number: str, region_code: str, year: int) -> int:
        return sum(
            i.amount_fen
            for i in self.s.items.values()
            if (i.resident_id_number, i.region_code, i.insurance_year, i.status)
            == (number, region_code, year, ItemStatus.UNPAID)
        )

    async def start_round(self, window: Window, days_before: int, now: dt.datetime) -> int:
        key = (window.region_code, window.insurance_year, window.window_end)
        if key in self.s.rounds:
            return 0  # the unique round key
        self.s.rounds[key] = str(uuid.uuid4())
        owing = sorted({i.resident_id_number for i in self.s.items.values() if self._unpaid_in(i, key)})
        for number in owing:
            self.s.reminders[str(uuid.uuid4())] = (number, key, ReminderStatus.PENDING)
        return len(owing)

    @staticmethod
    def _unpaid_in(item: PayableItem, key: tuple[str, int, dt.date]) -> bool:
        return (
            item.status is ItemStatus.UNPAID
            and (
                item.region_code,
                item.insurance_year,
                item.collection_window.end,
            )
            == key
        )

    async def lock_next_pending(self) -> PendingReminder | None:
        pending = sorted(
            (key[2], self.s.rounds[key], number, reminder_id)
            for reminder_id, (number, key, status) in self.s.reminders.items()
            if status is ReminderStatus.PENDING
        )
        if not pending:
            return None
        reminder_id = pending[0][3]
        number, key, _ = self.s.reminders[reminder_id]
        return PendingReminder(
            reminder_id,
            number,
            self.s.persons[number].name,
            key[0],
            key[1],
            key[2],
            Fen(self._owed_now(number, key[0], key[1])),
        )

    async def finish(self, reminder_id: str, status: ReminderStatus, now: dt.datetime) -> None:
        number, key, _ = self.s.reminders[reminder_id]
        self.s.reminders[reminder_id] = (number, key, status)


@dataclass
class FakeReconciliation:
    s: TaxState

    async def lock_day(self, channel: Channel, day: dt.date) -> None:
        return None  # one caller at a time in memory

    async def chunk_count_of(self, channel: Channel, day: dt.date, upload_id: str, count: int, now: dt.datetime) -> int:
        return self.s.uploads.setdefault((channel, day, upload_id), count)

    async def save_chunk(
        self, channel: Channel, day: dt.date, upload_id: str, index: int, lines: Sequence[SettlementLine]
    ) -> tuple[bool, int]:
        key = (channel, day, upload_id)
        chunks = self.s.chunks.setdefault(key, set())
        if index in chunks:
            return False, 0
        chunks.add(index)
        stored = self.s.lines.setdefault(key, {})
        fresh = [x for x in lines if x.line_number not in stored]
        stored.update((x.line_number, x) for x in fresh)
        return True, len(fresh)

    async def chunks_received(self, channel: Channel, day: dt.date, upload_id: str) -> int:
        return len(self.s.chunks.get((channel, day, upload_id), ()))

    async def upload_lines(self, channel: Channel, day: dt.date, upload_id: str) -> list[SettlementLine]:
        return [line for _, line in sorted(self.s.lines.get((channel, day, upload_id), {}).items())]

    async def drop_upload(self, channel: Channel, day: dt.date, upload_id: str) -> None:
        key = (channel, day, upload_id)
        self.s.uploads.pop(key, None)
        self.s.chunks.pop(key, None)
        self.s.lines.pop(key, None)

    async def payments_of_day(self, channel: Channel, start: dt.datetime, end: dt.datetime) -> list[OurPayment]:
        return [p for c, at, p in self.s.settled if c is channel and start <= at < end]

    async def refused_for_amount(
        self, channel: Channel, start: dt.datetime, end: dt.datetime
    ) -> list[RefusedNotification]:
        return [r for c, at, r in self.s.refused if c is channel and start <= at < end]

    async def latest(self, channel: Channel, day: dt.date) -> ReportVersion | None:
        return await self.version(channel, day, 0)

    async def version(self, channel: Channel, day: dt.date, version: int) -> ReportVersion | None:
        versions = [v for v, _ in self.s.reports.get((channel, day), []) if version in (0, v.version)]
        return max(versions, key=lambda v: v.version, default=None)

    async def version_count(self, channel: Channel, day: dt.date) -> int:
        return len(self.s.reports.get((channel, day), []))

    async def insert_report(
        self, channel: Channel, day: dt.date, report: ReportVersion, findings: Sequence[Finding]
    ) -> None:
        self.s.reports.setdefault((channel, day), []).append((report, list(findings)))

    async def mismatches(self, channel: Channel, day: dt.date, version: int) -> list[Finding]:
        found = [f for v, fs in self.s.reports.get((channel, day), []) if v.version == version for f in fs]
        return [f for f in found if f.outcome is not Outcome.MATCHED]


@dataclass
class FakeOutbox:
    s: TaxState

    async def add(self, event_type: EventType, payload: Message, *, occurred_at: dt.datetime) -> str:
        self.s.events.append((event_type.name, payload))
        return str(uuid.uuid4())


class NotFaked:
    """A port the fake leaves out (records, results, family bindings, certificates, deduction runs): their
    use cases are covered on a real database. Any call says so instead of answering wrongly."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        raise NotImplementedError(f"the fake unit of work has no {self._name}.{method}")


class FakeUnitOfWork:
    """One unit over the shared state: what it wrote is undone on leaving unless it committed."""

    intake = NotFaked("intake")  # the payment intake runs on a database only

    def __init__(self, state: TaxState) -> None:
        self.state = state
        self.commits = 0
        self.items = FakeItems(state)
        self.orders = FakeOrders(state)
        self.payments = FakePayments(state)
        self.refunds = FakeRefunds(state)
        self.agreements = FakeAgreements(state)
        self.reminders = FakeReminders(state)
        self.reconciliation = FakeReconciliation(state)
        self.outbox = FakeOutbox(state)
        self.records = cast(ports.Records, NotFaked("records"))
        self.results = cast(ports.Results, NotFaked("results"))
        self.family = cast(ports.Family, NotFaked("family"))
        self.certificates = cast(ports.Certificates, NotFaked("certificates"))
        self.deductions = cast(ports.Deductions, NotFaked("deductions"))
        self._before: TaxState | None = None

    async def __aenter__(self) -> Self:
        self._before = copy.deepcopy(self.state)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._before is not None:  # not committed: roll back
            self.state.__dict__.update(self._before.__dict__)
        self._before = None

    async def commit(self) -> None:
        self.commits += 1
        self._before = None


_ids = itertools.count(1)


@dataclass
class FakeCollection:
    """The tax side in memory, with factories for what a use case finds there."""

    state: TaxState = field(default_factory=TaxState)

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.state)

    def factory(self) -> ports.UowFactory:
        return self.uow

    def event_names(self) -> list[str]:
        return [name for name, _ in self.state.events]

    def add_person(self, number: str, name: str, birth: dt.date = dt.date(1980, 1, 1)) -> InsuredPerson:
        self.state.persons[number] = InsuredPerson(number, name, birth)
        return self.state.persons[number]

    def add_item(self, person: InsuredPerson, year: int = 2027, amount: int = 40_000, **changes: Any) -> PayableItem:
        item = PayableItem(
            payable_item_id=str(uuid.UUID(int=next(_ids))),
            enrollment_id=str(uuid.uuid4()),
            resident_id_number=person.resident_id_number,
            insured_name=person.name,
            region_code="340802",
            category="URBAN_RURAL",
            insurance_year=year,
            fee_type=FeeType.RESIDENT_MEDICAL,
            standard_fen=Fen(amount),
            subsidy_fen=Fen(0),
            amount_fen=Fen(amount),
            status=ItemStatus.UNPAID,
            policy_version=1,
            collection_window=DateRange(dt.date(year - 1, 9, 1), dt.date(year - 1, 12, 31)),
            payable_until=dt.date(year - 1, 12, 31),
            coverage=DateRange(dt.date(year, 1, 1), dt.date(year, 12, 31)),
            newborn_current_year=False,
        )
        item = replace(item, **changes)
        self.state.items[item.payable_item_id] = item
        self.state.enrollment_states.setdefault(item.enrollment_id, EnrollmentState.ACTIVE)
        return item

    def add_payment(
        self,
        items: Sequence[PayableItem],
        *,
        channel: Channel = Channel.WECHAT,
        outcome: PaymentOutcome = PaymentOutcome.APPLIED,
        paid_at: dt.datetime,
        family_holder: str | None = None,
    ) -> PaymentToRefund:
        """A payment as the intake leaves it: its items paid (when applied)."""
        payment_id = str(uuid.uuid4())
        amount = Fen(sum(i.amount_fen for i in items))
        self.state.payments[payment_id] = PaymentToRefund(payment_id, None, outcome, amount, channel, None)
        if outcome is PaymentOutcome.APPLIED:
            for i in items:
                self.state.items[i.payable_item_id] = replace(i, status=ItemStatus.PAID, paid_by_payment_id=payment_id)
            self.state.paid[payment_id] = [
                PaidItem(
                    i.payable_item_id,
                    i.enrollment_id,
                    i.resident_id_number,
                    i.insurance_year,
                    i.fee_type,
                    i.amount_fen,
                    i.coverage,
                )
                for i in items
            ]
        if family_holder is not None:
            self.state.debited_from[payment_id] = family_holder
        return self.state.payments[payment_id]
