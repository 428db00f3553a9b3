"""R30 matching and R29 results and reminder rounds: pure rules."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.reconciliation import (
    OurPayment,
    Outcome,
    RefusedNotification,
    SettlementLine,
    checked_chunk,
    checked_line,
    day_bounds,
    file_digest,
    matched_totals,
    reconcile,
)
from services.collection.domain.reminders import Window, due_rounds, reminder_text
from services.collection.domain.results import daily_series
from services.common.clock import CST
from services.common.errors import InvalidArgument
from services.common.money import Fen
from services.common.periods import DateRange

D = dt.date


def line(n: int, txn: str, fen: int) -> SettlementLine:
    return SettlementLine(n, txn, "", Fen(fen), None)


def paid(txn: str, fen: int) -> OurPayment:
    return OurPayment(f"p-{txn}", txn, f"o-{txn}", Fen(fen))


def test_one_missing_one_extra_and_one_differing_amount_are_exactly_three_findings() -> None:
    findings = reconcile(
        [line(1, "A", 38000), line(2, "B", 30000), line(3, "X", 100)],
        [paid("A", 38000), paid("B", 38000), paid("C", 35000)],
        [],
    )
    assert [(f.outcome, f.channel_transaction_id) for f in findings] == [
        (Outcome.MATCHED, "A"),
        (Outcome.AMOUNT_DIFFERS, "B"),
        (Outcome.MISSING_IN_TAX, "X"),
        (Outcome.MISSING_IN_CHANNEL, "C"),
    ]
    assert matched_totals(findings) == (1, 38000)
    differing = findings[1]
    assert (differing.tax_amount_fen, differing.channel_amount_fen, differing.payment_id) == (38000, 30000, "p-B")


def test_a_transaction_twice_in_the_file_is_a_duplicate_after_its_first_match() -> None:
    findings = reconcile([line(1, "A", 38000), line(2, "A", 38000)], [paid("A", 38000)], [])
    assert [f.outcome for f in findings] == [Outcome.MATCHED, Outcome.DUPLICATE_IN_FILE]
    assert findings[1].line_number == 2


def test_a_notification_refused_for_its_amount_shows_up_in_or_out_of_the_file() -> None:
    refused = [
        RefusedNotification("R", "o-R", Fen(30000), Fen(38000)),
        RefusedNotification("S", "o-S", Fen(100), Fen(38000)),
    ]
    findings = reconcile([line(1, "R", 30000)], [], refused)
    assert [(f.outcome, f.channel_transaction_id, f.refused_notification, f.line_number) for f in findings] == [
        (Outcome.AMOUNT_DIFFERS, "R", True, 1),
        (Outcome.AMOUNT_DIFFERS, "S", True, None),
    ]
    assert (findings[0].tax_amount_fen, findings[0].channel_amount_fen) == (38000, 30000)


def test_the_same_lines_make_the_same_file_and_a_corrected_line_another() -> None:
    first = [line(1, "A", 38000), line(2, "B", 100)]
    assert file_digest(first) == file_digest(list(reversed(first)))
    assert file_digest(first) != file_digest([line(1, "A", 38000), line(2, "B", 101)])


def test_a_settlement_day_is_the_cst_day() -> None:
    start, end = day_bounds(D(2023, 11, 20))
    assert start == dt.datetime(2023, 11, 20, tzinfo=CST) and end - start == dt.timedelta(days=1)


def test_chunks_and_lines_are_checked_before_anything_is_stored() -> None:
    assert checked_chunk("", 0, 0, 10, "r-1").upload_id == "single:r-1"
    with pytest.raises(InvalidArgument) as no_upload:
        checked_chunk("", 0, 2, 10, "r-1")
    assert no_upload.value.field == "upload_id"
    with pytest.raises(InvalidArgument):
        checked_chunk("u", 2, 2, 10, "r-1")
    with pytest.raises(InvalidArgument):
        checked_chunk("u", 0, 1, 5001, "r-1")
    assert checked_line(0, 0, " T1 ", "", 100, None, single_chunk=True).line_number == 1
    with pytest.raises(InvalidArgument) as amount:
        checked_line(3, 4, "T1", "", 0, None, single_chunk=False)
    assert amount.value.field == "records[3].amount_fen"
    with pytest.raises(InvalidArgument):
        checked_line(0, 0, "T1", "", 100, None, single_chunk=False)


def test_the_daily_series_counts_paid_and_unpaid_at_the_end_of_each_day_up_to_today() -> None:
    window = DateRange(D(2023, 9, 1), D(2023, 12, 31))
    days = daily_series(
        window,
        D(2023, 9, 3),
        owed_from={D(2023, 8, 20): 3, D(2023, 9, 2): 2},
        paid_on={D(2023, 9, 1): (1, 38000), D(2023, 9, 3): (2, 76000)},
    )
    assert [(d.date.day, d.paid_that_day, d.paid_count, d.unpaid_count, d.paid_amount_fen) for d in days] == [
        (1, 1, 1, 2, 38000),
        (2, 0, 1, 4, 38000),
        (3, 2, 3, 2, 114000),
    ]


def test_a_reminder_round_is_due_from_the_configured_days_before_the_close_until_the_close() -> None:
    windows = [Window("340800", 2024, D(2023, 12, 31)), Window("654000", 2024, D(2023, 12, 10))]
    assert due_rounds(windows, D(2023, 12, 3), 7) == [windows[1]]
    assert due_rounds(windows, D(2023, 12, 24), 7) == [windows[0]]
    assert due_rounds(windows, D(2023, 12, 2), 7) == []


def test_a_reminder_names_the_person_the_amount_and_the_closing_day() -> None:
    text = reminder_text("张三", 2024, Fen(38000), D(2023, 12, 31))
    assert "张三" in text and "380.00元" in text and "2023年12月31日截止" in text
