"""The cross-agency invariants of `medins audit` as pure comparisons: rows read from both databases and
the broker go in, violations come out. No I/O here, so every rule is unit-tested on hand-made rows.

What counts, per check (R14, R14a, R17, R17a, R20a, R21, R23, R24, R31, R32):

- payments accounted: an APPLIED payment that is not reversed has exactly one live receipt, exactly one
  `payment.confirmed` in the tax outbox and, per resident-medical item it paid, exactly one net grant in
  insurance's `coverage_grants` (GRANT rows minus WITHDRAWAL rows for payment, enrollment and year) —
  unless a refund exists for it (a refund on request keeps its grant until the money is back; a refused
  grant is compensated by the refund, R14a). A refusal recorded by insurance without a refund is money
  kept without coverage. A SUBSIDY settlement (R17) has one confirmation and one net grant per item. A
  REFUND_RAISED payment (R23) has no receipt, no confirmation and a refund. A net grant that belongs to
  no payment eligible for coverage, or a withdrawal without its grant, is a violation.
  Confirmations are counted in the tax outbox, whose published rows the relay's retention sweep deletes
  after outbox_retention_hours (7 days by default): run the audit within that horizon, or a payment
  older than it shows 0 confirmations. (An event log kept beyond the sweep would lift this.)
- refunds reversed: a SUCCEEDED refund reversed its payment and its receipt and left no net grant; a
  reversed payment or receipt has a SUCCEEDED refund.
- money per channel and day: for each channel and CST day of the payment time, money paid (every
  payment except subsidy settlements, whatever its outcome: the money moved) minus money refunded
  (SUCCEEDED refunds, counted against the day and channel of the payment they return) equals the sum of
  the PAID items whose paid_by_payment_id is one of those payments. Payments whose refund is still open
  (raised, not yet succeeded) are in transit and left out of both sides until it succeeds.
- one live item per year: every insurance enrollment year that is not CANCELLED, of an enrollment that
  was approved, has exactly one tax payable item that is not CANCELLED with the same enrollment, year
  and fee type RESIDENT_MEDICAL; every such live item has such a year; and a COVERED year names the
  same payment as its item.
- outbox: no row unpublished for longer than the threshold, in either database (R31).
- dead letters: every parked message is a violation, unless allowed and explained by a reason (R32).
- family ledger (R20a): replaying each account's entries (SET, DEBIT, CREDIT) reproduces every
  balance_after and the account's balance; each family mutual-aid payment has exactly one DEBIT of its
  amount, and each SUCCEEDED refund of one exactly one CREDIT of the refund's amount to the same holder.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MEDICAL = "RESIDENT_MEDICAL"
FAMILY_CHANNEL = "FAMILY_MUTUAL_AID"
SUBSIDY = "SUBSIDY"


@dataclass(frozen=True)
class Payment:
    payment_id: str
    channel: str
    outcome: str  # APPLIED | REFUND_RAISED | SUBSIDY
    amount_fen: int
    paid_day: dt.date  # CST day of the channel's payment time
    reversed: bool


@dataclass(frozen=True)
class PaymentItem:
    """An item a payment paid (payment_items joined with the item's identity)."""

    payment_id: str
    enrollment_id: str
    insurance_year: int
    fee_type: str


@dataclass(frozen=True)
class Receipt:
    payment_id: str
    reversed: bool


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    status: str
    amount_fen: int


@dataclass(frozen=True)
class Grant:
    payment_id: str
    enrollment_id: str
    insurance_year: int
    kind: str  # GRANT | WITHDRAWAL


@dataclass(frozen=True)
class PayableItem:
    payable_item_id: str
    enrollment_id: str
    insurance_year: int
    fee_type: str
    status: str
    amount_fen: int
    paid_by_payment_id: str | None


@dataclass(frozen=True)
class EnrollmentYear:
    enrollment_id: str
    insurance_year: int
    status: str
    paid_by_payment_id: str | None


@dataclass(frozen=True)
class StaleOutboxRow:
    agency: str
    outbox_id: int
    event_type: str
    age_seconds: float


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    message_id: str
    event_type: str
    reason: str


@dataclass(frozen=True)
class FamilyAccount:
    holder_id_number: str
    balance_fen: int


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: int
    holder_id_number: str
    kind: str  # SET | DEBIT | CREDIT
    amount_fen: int
    balance_after_fen: int
    payment_id: str | None
    refund_id: str | None


@dataclass(frozen=True)
class Snapshot:
    """Everything the audit reads, already in plain values."""

    payments: list[Payment] = field(default_factory=list)
    payment_items: list[PaymentItem] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    confirmed: Counter[str] = field(default_factory=Counter)  # payment id → payment.confirmed rows
    grants: list[Grant] = field(default_factory=list)
    refused_payments: set[str] = field(default_factory=set)  # payment ids in coverage_refusals
    payable_items: list[PayableItem] = field(default_factory=list)
    enrollment_years: list[EnrollmentYear] = field(default_factory=list)
    stale_outbox: list[StaleOutboxRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    family_accounts: list[FamilyAccount] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)


@dataclass(frozen=True)
class CheckResult:
    name: str
    violations: list[str]


OPEN_REFUND = frozenset({"PENDING", "SUBMITTING", "SUBMITTED", "FAILED", "MANUAL_HANDLING"})


def _net_grants(grants: Iterable[Grant]) -> Counter[tuple[str, str, int]]:
    net: Counter[tuple[str, str, int]] = Counter()
    for g in grants:
        net[(g.payment_id, g.enrollment_id, g.insurance_year)] += 1 if g.kind == "GRANT" else -1
    return net


def _medical_items(snapshot: Snapshot) -> dict[str, list[PaymentItem]]:
    items: dict[str, list[PaymentItem]] = defaultdict(list)
    for item in snapshot.payment_items:
        if item.fee_type == MEDICAL:
            items[item.payment_id].append(item)
    return items


def check_payments_accounted(snapshot: Snapshot) -> CheckResult:
    """R14, R14a, R21, R23, R24: each payment has its receipt, confirmation and grant, or its refund."""
    out: list[str] = []
    refunded = {r.payment_id for r in snapshot.refunds}
    net = _net_grants(snapshot.grants)
    items = _medical_items(snapshot)
    live_receipts = Counter(r.payment_id for r in snapshot.receipts if not r.reversed)
    all_receipts = Counter(r.payment_id for r in snapshot.receipts)
    for p in snapshot.payments:
        if p.outcome == "REFUND_RAISED":
            out += _double_payment_violations(p.payment_id, all_receipts, snapshot.confirmed, refunded)
        elif not p.reversed:  # a reversed payment is the refunds check's business
            out += _live_payment_violations(p, live_receipts, snapshot, refunded, net, items[p.payment_id])
    eligible = {
        (i.payment_id, i.enrollment_id, i.insurance_year)
        for p in snapshot.payments
        if p.outcome != "REFUND_RAISED" and not p.reversed
        for i in items[p.payment_id]
    }
    reversed_payments = {p.payment_id for p in snapshot.payments if p.reversed}
    for key, count in sorted(net.items()):
        if count < 0:
            out.append(f"payment {key[0]}: a withdrawal without its grant for {key[1]}/{key[2]}")
        elif count > 0 and key not in eligible and key[0] not in reversed_payments:
            out.append(f"grant for {key[1]}/{key[2]} by payment {key[0]}, which paid no such live item")
    return CheckResult("payments accounted (receipt, confirmation, grant or refund)", out)


def _double_payment_violations(
    payment_id: str, receipts: Counter[str], confirmed: Counter[str], refunded: set[str]
) -> list[str]:
    out = []
    if receipts[payment_id] or confirmed[payment_id]:
        out.append(f"payment {payment_id} paid nothing (R23) but has a receipt or a payment.confirmed")
    if payment_id not in refunded:
        out.append(f"payment {payment_id} raised a refund (R23) but has none")
    return out


def _live_payment_violations(
    p: Payment,
    live_receipts: Counter[str],
    snapshot: Snapshot,
    refunded: set[str],
    net: Counter[tuple[str, str, int]],
    items: list[PaymentItem],
) -> list[str]:
    pid = p.payment_id
    out = []
    if p.outcome == "APPLIED" and live_receipts[pid] != 1:
        out.append(f"payment {pid} has {live_receipts[pid]} live receipt(s), not 1")
    if snapshot.confirmed[pid] != 1:
        out.append(f"payment {pid} has {snapshot.confirmed[pid]} payment.confirmed event(s), not 1")
    if pid in snapshot.refused_payments and pid not in refunded:
        out.append(f"payment {pid}: insurance refused coverage and no refund was raised (R14a)")
    if pid in refunded:
        return out  # compensated or returning on request: the grant goes with the refund
    for item in items:
        count = net[(pid, item.enrollment_id, item.insurance_year)]
        if count != 1:
            out.append(f"payment {pid} has {count} net grant(s) for {item.enrollment_id}/{item.insurance_year}")
    return out


def check_refunds_reversed(snapshot: Snapshot) -> CheckResult:
    """R14, R24: a returned payment leaves no live receipt and no coverage behind."""
    out: list[str] = []
    payments = {p.payment_id: p for p in snapshot.payments}
    succeeded = {r.payment_id for r in snapshot.refunds if r.status == "SUCCEEDED"}
    net = _net_grants(snapshot.grants)
    items = _medical_items(snapshot)
    for r in snapshot.refunds:
        if r.status != "SUCCEEDED":
            continue
        payment = payments.get(r.payment_id)
        if payment is None or not payment.reversed:
            out.append(f"refund {r.refund_id} succeeded but payment {r.payment_id} is not reversed")
        for item in items[r.payment_id]:
            left = net[(r.payment_id, item.enrollment_id, item.insurance_year)]
            if left > 0:
                where = f"{item.enrollment_id}/{item.insurance_year}"
                out.append(f"refund {r.refund_id}: payment {r.payment_id} still grants {where}")
    for receipt in snapshot.receipts:
        if receipt.payment_id in succeeded and not receipt.reversed:
            out.append(f"payment {receipt.payment_id} was refunded but its receipt is not reversed")
        if receipt.reversed and receipt.payment_id not in succeeded:
            out.append(f"receipt of payment {receipt.payment_id} is reversed without a succeeded refund")
    for p in snapshot.payments:
        if p.reversed and p.payment_id not in succeeded:
            out.append(f"payment {p.payment_id} is reversed without a succeeded refund")
    return CheckResult("refunds reversed (receipt, coverage)", out)


def check_money_per_channel_day(snapshot: Snapshot) -> CheckResult:
    """Money paid − money refunded = settled items, per channel and CST day (see the module docstring)."""
    in_transit = {r.payment_id for r in snapshot.refunds if r.status in OPEN_REFUND}
    refunded: Counter[str] = Counter()
    for r in snapshot.refunds:
        if r.status == "SUCCEEDED":
            refunded[r.payment_id] += r.amount_fen
    paid: Counter[tuple[str, dt.date]] = Counter()
    returned: Counter[tuple[str, dt.date]] = Counter()
    settled: Counter[tuple[str, dt.date]] = Counter()
    day_of: dict[str, tuple[str, dt.date]] = {}
    for p in snapshot.payments:
        if p.outcome == SUBSIDY or p.payment_id in in_transit:
            continue
        key = (p.channel, p.paid_day)
        day_of[p.payment_id] = key
        paid[key] += p.amount_fen
        returned[key] += refunded[p.payment_id]
    for item in snapshot.payable_items:
        if item.status == "PAID" and item.paid_by_payment_id in day_of:
            settled[day_of[item.paid_by_payment_id]] += item.amount_fen
    out = [
        f"{channel} {day}: paid {paid[(channel, day)]} − refunded {returned[(channel, day)]} "
        f"≠ settled items {settled[(channel, day)]} (fen)"
        for channel, day in sorted(set(paid) | set(settled))
        if paid[(channel, day)] - returned[(channel, day)] != settled[(channel, day)]
    ]
    return CheckResult("money paid − refunded = settled items, per channel and CST day", out)


def check_one_live_item_per_year(snapshot: Snapshot) -> CheckResult:
    """R17, R17a: insurance's open years and tax's live items match one to one."""
    out: list[str] = []
    live: dict[tuple[str, int], list[PayableItem]] = defaultdict(list)
    for item in snapshot.payable_items:
        if item.status != "CANCELLED" and item.fee_type == MEDICAL:
            live[(item.enrollment_id, item.insurance_year)].append(item)
    years = {(y.enrollment_id, y.insurance_year): y for y in snapshot.enrollment_years if y.status != "CANCELLED"}
    for key, year in sorted(years.items()):
        found = live.get(key, [])
        if len(found) != 1:
            out.append(
                f"enrollment year {key[0]}/{key[1]} ({year.status}) has {len(found)} live payable item(s), not 1"
            )
        elif year.status == "COVERED" and year.paid_by_payment_id != found[0].paid_by_payment_id:
            out.append(
                f"enrollment year {key[0]}/{key[1]} is covered by payment {year.paid_by_payment_id}, "
                f"its item is paid by {found[0].paid_by_payment_id}"
            )
    for key in sorted(set(live) - set(years)):
        out.append(
            f"live payable item {live[key][0].payable_item_id} for {key[0]}/{key[1]} has no open enrollment year"
        )
    return CheckResult("one live payable item per open enrollment year", out)


def check_outbox(snapshot: Snapshot, threshold_seconds: float) -> CheckResult:
    """R31: whatever committed is published within the threshold."""
    out = [
        f"{row.agency} outbox row {row.outbox_id} ({row.event_type}) unpublished for {row.age_seconds:.0f} s"
        for row in snapshot.stale_outbox
        if row.age_seconds > threshold_seconds
    ]
    return CheckResult(f"outbox rows unpublished > {threshold_seconds:g} s", out)


def check_dead_letters(snapshot: Snapshot, allow_explained: bool) -> CheckResult:
    """R32: parked messages are visible; accepted only when asked to and when each carries a reason."""
    out = [
        f"{d.queue}: {d.message_id} {d.event_type} — {d.reason}"
        for d in snapshot.dead_letters
        if not allow_explained or d.reason in ("", "unknown")
    ]
    return CheckResult("dead-letter queues empty" + (" or explained" if allow_explained else ""), out)


def check_family_ledger(snapshot: Snapshot) -> CheckResult:
    """R20a: each account's balance is its ledger replayed; each debit and credit is booked once."""
    return CheckResult(
        "family ledger: balance = entries replayed", _ledger_balances(snapshot) + _ledger_bookings(snapshot)
    )


def _ledger_balances(snapshot: Snapshot) -> list[str]:
    out: list[str] = []
    entries: dict[str, list[LedgerEntry]] = defaultdict(list)
    for e in sorted(snapshot.ledger, key=lambda e: e.entry_id):
        entries[e.holder_id_number].append(e)
    for account in snapshot.family_accounts:
        balance = 0
        for e in entries.get(account.holder_id_number, []):
            balance = _apply(balance, e)
            if balance != e.balance_after_fen:
                out.append(f"ledger entry {e.entry_id}: balance after {e.balance_after_fen}, replayed {balance}")
        if balance != account.balance_fen:
            holder = _mask(account.holder_id_number)
            out.append(f"family account {holder}: balance {account.balance_fen}, ledger {balance}")
    return out


def _ledger_bookings(snapshot: Snapshot) -> list[str]:
    out: list[str] = []
    debits: dict[str, list[LedgerEntry]] = defaultdict(list)
    credits: dict[str, list[LedgerEntry]] = defaultdict(list)
    for e in snapshot.ledger:
        if e.kind == "DEBIT" and e.payment_id:
            debits[e.payment_id].append(e)
        elif e.kind == "CREDIT" and e.refund_id:
            credits[e.refund_id].append(e)
    family = {p.payment_id: p for p in snapshot.payments if p.channel == FAMILY_CHANNEL}
    for p in family.values():
        booked = debits.get(p.payment_id, [])
        if len(booked) != 1 or booked[0].amount_fen != p.amount_fen:
            out.append(f"family payment {p.payment_id} of {p.amount_fen} has debits {[e.amount_fen for e in booked]}")
    for r in snapshot.refunds:
        if r.payment_id not in family or r.status != "SUCCEEDED":
            continue
        booked = credits.get(r.refund_id, [])
        holders = {e.holder_id_number for e in debits.get(r.payment_id, [])}
        if len(booked) != 1 or booked[0].amount_fen != r.amount_fen or booked[0].holder_id_number not in holders:
            out.append(f"refund {r.refund_id} of family payment {r.payment_id} is not credited once to its account")
    return out


def _apply(balance: int, entry: LedgerEntry) -> int:
    if entry.kind == "SET":
        return entry.amount_fen
    if entry.kind == "DEBIT":
        return balance - entry.amount_fen
    return balance + entry.amount_fen


def _mask(number: str) -> str:
    return number[:6] + "*" * max(len(number) - 10, 0) + number[-4:]


def run_checks(
    snapshot: Snapshot, *, outbox_threshold_seconds: float, allow_explained_dead_letters: bool
) -> list[CheckResult]:
    """Every check, in the order the table prints them."""
    checks: list[Callable[[Snapshot], CheckResult]] = [
        check_payments_accounted,
        check_refunds_reversed,
        check_money_per_channel_day,
        check_one_live_item_per_year,
        lambda s: check_outbox(s, outbox_threshold_seconds),
        lambda s: check_dead_letters(s, allow_explained_dead_letters),
        check_family_ledger,
    ]
    return [check(snapshot) for check in checks]
