"""`medins audit`'s comparisons on hand-made rows: a consistent picture is clean, each broken invariant
is named (R14, R14a, R17a, R20a, R21, R23, R24, R31, R32)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import replace

from ops.audit_checks import (
    DeadLetter,
    EnrollmentYear,
    FamilyAccount,
    Grant,
    LedgerEntry,
    PayableItem,
    Payment,
    PaymentItem,
    Receipt,
    Refund,
    Snapshot,
    StaleOutboxRow,
    check_dead_letters,
    check_family_ledger,
    check_money_per_channel_day,
    check_one_live_item_per_year,
    check_outbox,
    check_payments_accounted,
    check_refunds_reversed,
    run_checks,
)

DAY = dt.date(2023, 11, 20)
ENROLLMENT = "e-1"
HOLDER = "340802199001011234"


def paid_once() -> Snapshot:
    """One WeChat payment of 38,000 fen for one year: receipt, confirmation, grant, paid item, open year."""
    return Snapshot(
        payments=[Payment("p-1", "WECHAT", "APPLIED", 38000, DAY, reversed=False)],
        payment_items=[PaymentItem("p-1", ENROLLMENT, 2024, "RESIDENT_MEDICAL")],
        receipts=[Receipt("p-1", reversed=False)],
        confirmed=Counter({"p-1": 1}),
        grants=[Grant("p-1", ENROLLMENT, 2024, "GRANT")],
        payable_items=[PayableItem("i-1", ENROLLMENT, 2024, "RESIDENT_MEDICAL", "PAID", 38000, "p-1")],
        enrollment_years=[EnrollmentYear(ENROLLMENT, 2024, "COVERED", "p-1")],
    )


def refunded_on_request() -> Snapshot:
    """The same payment returned: refund succeeded, payment and receipt reversed, grant withdrawn."""
    base = paid_once()
    return replace(
        base,
        payments=[replace(base.payments[0], reversed=True)],
        receipts=[Receipt("p-1", reversed=True)],
        refunds=[Refund("r-1", "p-1", "SUCCEEDED", 38000)],
        grants=[*base.grants, Grant("p-1", ENROLLMENT, 2024, "WITHDRAWAL")],
        payable_items=[PayableItem("i-1", ENROLLMENT, 2024, "RESIDENT_MEDICAL", "UNPAID", 38000, None)],
        enrollment_years=[EnrollmentYear(ENROLLMENT, 2024, "AWAITING_PAYMENT", None)],
    )


def violations(snapshot: Snapshot) -> dict[str, list[str]]:
    results = run_checks(snapshot, outbox_threshold_seconds=60, allow_explained_dead_letters=False)
    return {r.name: r.violations for r in results if r.violations}


def test_a_paid_and_granted_payment_is_clean() -> None:
    assert violations(paid_once()) == {}


def test_a_refunded_payment_with_everything_reversed_is_clean() -> None:
    assert violations(refunded_on_request()) == {}


def test_a_payment_without_its_grant_is_reported() -> None:
    found = check_payments_accounted(replace(paid_once(), grants=[])).violations
    assert found == [f"payment p-1 has 0 net grant(s) for {ENROLLMENT}/2024"]


def test_a_grant_withdrawn_without_a_refund_leaves_the_payment_uncovered() -> None:
    snapshot = replace(paid_once(), grants=[*paid_once().grants, Grant("p-1", ENROLLMENT, 2024, "WITHDRAWAL")])
    assert check_payments_accounted(snapshot).violations == [f"payment p-1 has 0 net grant(s) for {ENROLLMENT}/2024"]


def test_a_second_confirmation_or_a_missing_receipt_is_reported() -> None:
    snapshot = replace(paid_once(), confirmed=Counter({"p-1": 2}), receipts=[])
    assert check_payments_accounted(snapshot).violations == [
        "payment p-1 has 0 live receipt(s), not 1",
        "payment p-1 has 2 payment.confirmed event(s), not 1",
    ]


def test_a_refused_grant_without_a_refund_is_money_kept_without_coverage() -> None:
    snapshot = replace(paid_once(), grants=[], refused_payments={"p-1"})
    found = check_payments_accounted(snapshot).violations
    assert "payment p-1: insurance refused coverage and no refund was raised (R14a)" in found


def test_a_refused_grant_with_its_refund_under_way_is_accounted_for() -> None:
    snapshot = replace(
        paid_once(), grants=[], refused_payments={"p-1"}, refunds=[Refund("r-1", "p-1", "SUBMITTING", 38000)]
    )
    assert check_payments_accounted(snapshot).violations == []


def test_a_double_payment_gets_a_refund_and_nothing_else() -> None:
    double = Payment("p-2", "ALIPAY", "REFUND_RAISED", 38000, DAY, reversed=False)
    clean = replace(
        paid_once(), payments=[*paid_once().payments, double], refunds=[Refund("r-2", "p-2", "PENDING", 38000)]
    )
    assert check_payments_accounted(clean).violations == []
    confirmed_too = replace(clean, confirmed=Counter({"p-1": 1, "p-2": 1}), refunds=[])
    assert check_payments_accounted(confirmed_too).violations == [
        "payment p-2 paid nothing (R23) but has a receipt or a payment.confirmed",
        "payment p-2 raised a refund (R23) but has none",
    ]


def test_a_grant_by_a_payment_that_paid_no_such_item_is_reported() -> None:
    snapshot = replace(paid_once(), grants=[*paid_once().grants, Grant("p-9", "e-9", 2024, "GRANT")])
    assert check_payments_accounted(snapshot).violations == [
        "grant for e-9/2024 by payment p-9, which paid no such live item"
    ]


def test_a_subsidy_settlement_needs_its_confirmation_and_grant_but_no_receipt() -> None:
    subsidy = Snapshot(
        payments=[Payment("s-1", "SUBSIDY", "SUBSIDY", 0, DAY, reversed=False)],
        payment_items=[PaymentItem("s-1", ENROLLMENT, 2024, "RESIDENT_MEDICAL")],
        confirmed=Counter({"s-1": 1}),
        grants=[Grant("s-1", ENROLLMENT, 2024, "GRANT")],
    )
    assert check_payments_accounted(subsidy).violations == []
    assert check_payments_accounted(replace(subsidy, grants=[])).violations == [
        f"payment s-1 has 0 net grant(s) for {ENROLLMENT}/2024"
    ]


def test_a_succeeded_refund_must_reverse_the_receipt_and_withdraw_the_grant() -> None:
    snapshot = replace(refunded_on_request(), receipts=[Receipt("p-1", reversed=False)], grants=paid_once().grants)
    assert check_refunds_reversed(snapshot).violations == [
        f"refund r-1: payment p-1 still grants {ENROLLMENT}/2024",
        "payment p-1 was refunded but its receipt is not reversed",
    ]


def test_a_reversal_without_a_succeeded_refund_is_reported() -> None:
    snapshot = replace(refunded_on_request(), refunds=[Refund("r-1", "p-1", "SUBMITTED", 38000)])
    assert check_refunds_reversed(snapshot).violations == [
        "receipt of payment p-1 is reversed without a succeeded refund",
        "payment p-1 is reversed without a succeeded refund",
    ]


def test_money_kept_without_a_settled_item_is_reported_per_channel_and_day() -> None:
    snapshot = replace(
        paid_once(), payable_items=[PayableItem("i-1", ENROLLMENT, 2024, "RESIDENT_MEDICAL", "UNPAID", 38000, None)]
    )
    assert check_money_per_channel_day(snapshot).violations == [
        "WECHAT 2023-11-20: paid 38000 − refunded 0 ≠ settled items 0 (fen)"
    ]


def test_a_refund_in_transit_is_left_out_of_the_money_until_it_succeeds() -> None:
    double = Payment("p-2", "WECHAT", "REFUND_RAISED", 38000, DAY, reversed=False)
    base = replace(paid_once(), payments=[*paid_once().payments, double])
    in_transit = replace(base, refunds=[Refund("r-2", "p-2", "SUBMITTED", 38000)])
    assert check_money_per_channel_day(in_transit).violations == []
    returned = replace(
        base,
        payments=[paid_once().payments[0], replace(double, reversed=True)],
        refunds=[Refund("r-2", "p-2", "SUCCEEDED", 38000)],
    )
    assert check_money_per_channel_day(returned).violations == []
    assert check_money_per_channel_day(replace(base, refunds=[])).violations == [
        "WECHAT 2023-11-20: paid 76000 − refunded 0 ≠ settled items 38000 (fen)"
    ]


def test_an_open_year_needs_exactly_one_live_item_and_a_live_item_an_open_year() -> None:
    base = paid_once()
    unassessed = replace(base, payable_items=[])
    assert check_one_live_item_per_year(unassessed).violations == [
        f"enrollment year {ENROLLMENT}/2024 (COVERED) has 0 live payable item(s), not 1"
    ]
    orphan = replace(base, enrollment_years=[EnrollmentYear(ENROLLMENT, 2024, "CANCELLED", None)])
    assert check_one_live_item_per_year(orphan).violations == [
        f"live payable item i-1 for {ENROLLMENT}/2024 has no open enrollment year"
    ]
    pension = PayableItem("i-2", ENROLLMENT, 2024, "RESIDENT_PENSION", "UNPAID", 20000, None)
    assert check_one_live_item_per_year(replace(base, payable_items=[*base.payable_items, pension])).violations == []


def test_a_covered_year_names_the_payment_that_paid_its_item() -> None:
    snapshot = replace(paid_once(), enrollment_years=[EnrollmentYear(ENROLLMENT, 2024, "COVERED", "p-other")])
    assert check_one_live_item_per_year(snapshot).violations == [
        f"enrollment year {ENROLLMENT}/2024 is covered by payment p-other, its item is paid by p-1"
    ]


def test_outbox_rows_older_than_the_threshold_are_reported() -> None:
    snapshot = Snapshot(
        stale_outbox=[StaleOutboxRow("tax", 7, "payment.confirmed", 61.0), StaleOutboxRow("insurance", 3, "x", 5.0)]
    )
    assert check_outbox(snapshot, 60).violations == ["tax outbox row 7 (payment.confirmed) unpublished for 61 s"]


def test_dead_letters_are_violations_unless_allowed_and_explained() -> None:
    letters = [
        DeadLetter("q.dlq", "m-1", "enrollment.stopped", "retries exhausted: KeyError"),
        DeadLetter("q.dlq", "m-2", "", "unknown"),
    ]
    assert len(check_dead_letters(Snapshot(dead_letters=letters), allow_explained=False).violations) == 2
    assert check_dead_letters(Snapshot(dead_letters=letters), allow_explained=True).violations == [
        "q.dlq: m-2  — unknown"
    ]


def family_paid_and_refunded() -> Snapshot:
    payment = Payment("p-f", "FAMILY_MUTUAL_AID", "APPLIED", 38000, DAY, reversed=True)
    return Snapshot(
        payments=[payment],
        refunds=[Refund("r-f", "p-f", "SUCCEEDED", 38000)],
        family_accounts=[FamilyAccount(HOLDER, 100000)],
        ledger=[
            LedgerEntry(1, HOLDER, "SET", 100000, 100000, None, None),
            LedgerEntry(2, HOLDER, "DEBIT", 38000, 62000, "p-f", None),
            LedgerEntry(3, HOLDER, "CREDIT", 38000, 100000, "p-f", "r-f"),
        ],
    )


def test_a_family_refund_credited_back_balances_the_ledger() -> None:
    assert check_family_ledger(family_paid_and_refunded()).violations == []


def test_a_family_refund_never_credited_is_reported() -> None:
    snapshot = family_paid_and_refunded()
    snapshot = replace(snapshot, ledger=snapshot.ledger[:2], family_accounts=[FamilyAccount(HOLDER, 62000)])
    assert check_family_ledger(snapshot).violations == [
        "refund r-f of family payment p-f is not credited once to its account"
    ]


def test_a_balance_the_ledger_does_not_explain_is_reported() -> None:
    snapshot = replace(family_paid_and_refunded(), family_accounts=[FamilyAccount(HOLDER, 90000)])
    assert check_family_ledger(snapshot).violations == [
        "family account 340802********1234: balance 90000, ledger 100000"
    ]
    no_debit = replace(family_paid_and_refunded(), ledger=[])
    assert check_family_ledger(replace(no_debit, family_accounts=[])).violations == [
        "family payment p-f of 38000 has debits []",
        "refund r-f of family payment p-f is not credited once to its account",
    ]
