"""Named SQL parameters (services/common/named_sql.py) and the payment path's statements bound by name
(issue 20): each statement takes exactly the fields of the dataclasses it is bound from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid

import pytest

from services.collection import payment_intake_sql as sql
from services.common.named_sql import NamedStatement, field_names


def test_names_become_positions_in_order_of_first_use_and_casts_are_left_alone() -> None:
    statement = NamedStatement.of("SELECT :a::text, :b, :a, x::int FROM t WHERE y = 'z' OR w = :b_c")
    assert statement.names == ("a", "b", "b_c")
    assert statement.sql == "SELECT $1::text, $2, $1, x::int FROM t WHERE y = 'z' OR w = $3"


@dataclasses.dataclass(frozen=True)
class _Pair:
    a: int
    b: str


def test_arguments_are_taken_by_name_and_a_missing_or_unknown_name_is_an_error() -> None:
    statement = NamedStatement.of("SELECT :b, :a")
    assert statement.args(_Pair(a=1, b="x")) == ["x", 1]
    with pytest.raises(ValueError, match="missing"):
        NamedStatement.of("SELECT :a, :b, :c").args(_Pair(1, "x"))
    with pytest.raises(ValueError, match="unknown"):
        NamedStatement.of("SELECT :a").args(_Pair(1, "x"))
    with pytest.raises(ValueError, match="twice"):
        statement.args(_Pair(1, "x"), _Pair(2, "y"))


@pytest.mark.parametrize(
    ("statement", "bound_from"),
    [
        (sql.READ, (sql.ReadParams,)),
        (sql.WRITE_APPLIED, (sql.PaymentParams, sql.RequestParams, sql.PaymentRecordParams, sql.AppliedParams)),
        (sql.WRITE_REFUND, (sql.PaymentParams, sql.RequestParams, sql.PaymentRecordParams, sql.RefundParams)),
        (sql.WRITE_REPLAY, (sql.RequestParams, sql.RecordParams)),
        (sql.RECORD, (sql.RecordParams,)),
    ],
    ids=["read", "applied", "refund", "replay", "record"],
)
def test_each_intake_statement_takes_exactly_its_parameter_fields(
    statement: NamedStatement, bound_from: tuple[type, ...]
) -> None:
    assert set(statement.names) == field_names(*bound_from)
    positions = {int(p) for p in re.findall(r"\$(\d+)", statement.sql)}
    assert positions == set(range(1, len(statement.names) + 1))
    assert not re.search(r"(?<![:\w]):[a-z]", statement.sql), "a name left uncompiled"


def test_a_record_bound_alone_fills_every_position() -> None:
    now = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    record = sql.RecordParams("WECHAT", None, None, None, None, b"h", 1, "s", "MALFORMED", uuid.uuid4(), None, now)
    args = sql.RECORD.args(record)
    assert len(args) == len(sql.RECORD.names) == len(dataclasses.fields(sql.RecordParams))
    assert args[sql.RECORD.names.index("received_at")] == now
