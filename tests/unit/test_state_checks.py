"""Every state list a tax migration checks (`CHECK (column IN (...))`) is exactly its domain enum's values:
a state added to the enum but not to the table fails at the first write of it, one added to the table but
not to the enum fails at the first read (issue 20 item 2)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from services.collection.domain.agreements import AgreementStatus, IdType, Relationship
from services.collection.domain.deductions import AttemptStatus
from services.collection.domain.family import MEMBER_RELATIONSHIPS, LedgerEntryKind
from services.collection.domain.model import (
    EnrollmentState,
    ItemStatus,
    NotificationOutcome,
    OrderKind,
    OrderStatus,
    PaymentOutcome,
    RefundReason,
    RefundStatus,
)
from services.collection.domain.payment_queries import Source as AnswerSource
from services.collection.domain.reconciliation import Outcome as ReconciliationOutcome
from services.collection.domain.reminders import ReminderStatus

MIGRATIONS = Path(__file__).resolve().parents[2] / "deploy" / "migrations" / "tax"

# table.column → the values the domain allows there.
DOMAIN_VALUES: dict[str, Iterable[enum.StrEnum]] = {
    "enrollment_refs.state": EnrollmentState,
    "payable_items.status": ItemStatus,
    "orders.kind": OrderKind,
    "orders.status": OrderStatus,
    "payments.outcome": PaymentOutcome,
    "refunds.reason": RefundReason,
    "refunds.status": RefundStatus,
    "channel_order_answers.source": AnswerSource,
    "channel_notifications.outcome": NotificationOutcome,
    "family_account_entries.kind": LedgerEntryKind,
    "family_members.relationship": MEMBER_RELATIONSHIPS,
    "deduction_agreements.insured_id_type": IdType,
    "deduction_agreements.relationship": Relationship,
    "deduction_agreements.status": AgreementStatus,
    "deduction_attempts.status": AttemptStatus,
    "reminders.status": ReminderStatus,
    "reconciliation_lines.outcome": ReconciliationOutcome,
}

_TABLE = re.compile(r"\b(?:CREATE|ALTER)\s+TABLE\s+(\w+)", re.IGNORECASE)
_CHECK_IN = re.compile(r"\bCHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)


def _checked_lists(sql: str) -> dict[str, set[str]]:
    """table.column → the values its CHECK lists, the last definition winning (a later migration may
    drop a constraint and add it again with more values)."""
    found: dict[str, set[str]] = {}
    without_comments = re.sub(r"--[^\n]*", "", sql)
    for statement in without_comments.split(";"):
        table = _TABLE.search(statement)
        for column, values in _CHECK_IN.findall(statement):
            assert table is not None, f"a CHECK outside a table statement: {statement.strip()[:80]}"
            found[f"{table[1]}.{column}"] = set(re.findall(r"'([^']*)'", values))
    return found


def _migrations_checks() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(MIGRATIONS.glob("*.sql")):
        found.update(_checked_lists(path.read_text()))
    return found


def test_the_parser_reads_created_and_altered_lists_and_skips_other_checks() -> None:
    sql = """CREATE TABLE t (
        a text NOT NULL CHECK (a IN ('X', 'Y')),  -- a comment; with a semicolon
        n int CHECK (n > 0),
        CHECK ((a IN ('X')) = (n IS NULL)));
    ALTER TABLE t ADD CONSTRAINT t_a_check
        CHECK (a IN ('X', 'Y', 'Z'));"""
    assert _checked_lists(sql) == {"t.a": {"X", "Y", "Z"}}


def test_every_checked_state_list_has_its_enum() -> None:
    assert set(_migrations_checks()) == set(DOMAIN_VALUES)


@pytest.mark.parametrize("column", sorted(DOMAIN_VALUES))
def test_the_checked_list_equals_the_domain_values(column: str) -> None:
    assert _migrations_checks()[column] == {v.value for v in DOMAIN_VALUES[column]}
