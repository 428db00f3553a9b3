"""The per-person trail (R35): who (the caller's authenticated identity, and beside it what the request
said of who acts) did what (RPC, request id) to whose record.

Written by services/common/idempotency.py for every mutating call, in the call's own transaction, so a
change and its trail row commit or roll back together and a replayed request adds nothing. Whose record:
every resident ID number the request or its response carries, found by field name (`*_id_number`, the
protos' convention: resident_, payer_, insured_, minor_, holder_id_number), so a new RPC is covered
without a list to keep. Reads of the enrollment check are audited on their own (services/enrollment/audit.py);
a resident's look-up of themselves (R48) is also on their trail, written by that audit's writer in the
same transaction as the check's record (`copy_rows`).

This module owns the person_trail table of each agency database (deploy/migrations/*/0004_*.sql).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from medins.common.v1 import field_rules_pb2

from services.common.db import Connection

PERSON_FIELD_SUFFIX = "_id_number"


@dataclass(frozen=True)
class _Plan:
    numbers: tuple[str, ...]  # string fields naming a person
    nested: tuple[str, ...]  # message fields that may hold more


@functools.cache
def _plan(descriptor: Descriptor) -> _Plan:
    numbers, nested = [], []
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING and field.name.endswith(PERSON_FIELD_SUFFIX):
            numbers.append(field.name)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            # Map entries and well-known types (timestamps) never name a person.
            kind = field.message_type
            if not kind.GetOptions().map_entry and not kind.full_name.startswith("google.protobuf."):
                nested.append(field.name)
    return _Plan(tuple(numbers), tuple(nested))


def persons_named(*messages: Message) -> list[str]:
    """The distinct ID numbers the messages carry, in the order first met."""
    found: dict[str, None] = {}
    stack = list(reversed(messages))
    while stack:
        message = stack.pop()
        plan = _plan(message.DESCRIPTOR)
        for name in plan.numbers:
            values = getattr(message, name)
            for value in [values] if isinstance(values, str) else values:
                if value:
                    found[value] = None
        for name in plan.nested:
            value = getattr(message, name)
            if isinstance(value, Message):
                if message.HasField(name):
                    stack.append(value)
            else:
                stack.extend(reversed(list(value)))
    return list(found)


@functools.cache
def claimed_caller_fields(descriptor: Descriptor) -> tuple[str, ...]:
    """The fields in which requests of this type say who acts: those the protos mark `claimed_caller`
    (field_rules.proto). Kept as a note beside the authenticated caller, never in its place (R35, R41)."""
    return tuple(
        field.name
        for field in descriptor.fields
        if field.type == FieldDescriptor.TYPE_STRING
        and field.GetOptions().HasExtension(field_rules_pb2.rules)
        and field.GetOptions().Extensions[field_rules_pb2.rules].claimed_caller
    )


def claimed_caller(request: Message) -> str:
    """What the request says of who acts, e.g. `officer_id=wang` ('' when it says nothing)."""
    return " ".join(
        f"{name}={getattr(request, name)}"
        for name in claimed_caller_fields(request.DESCRIPTOR)
        if getattr(request, name)
    )


async def record(
    conn: Connection,
    caller: str,
    method: str,
    request_id: str,
    correlation_id: str,
    numbers: list[str],
    caller_note: str = "",
) -> None:
    """One trail row per person, in the caller's transaction: the authenticated caller, and what the
    request said of who acts as a note beside it."""
    if not numbers:
        return
    await conn.execute(
        """INSERT INTO person_trail (resident_id_number, caller, caller_note, method, request_id, correlation_id)
           SELECT number, $2, $6, $3, $4, $5 FROM unnest($1::text[]) AS number""",
        numbers,
        caller,
        method,
        request_id,
        correlation_id,
        caller_note,
    )


# A row as `copy_rows` writes it: resident_id_number, caller, caller_note, method, request_id, correlation_id
# (recorded_at is the database's now(), as for every other row).
TrailRow = tuple[str, str, str, str, str, str]
TRAIL_COLUMNS = ["resident_id_number", "caller", "caller_note", "method", "request_id", "correlation_id"]


def rows_for(
    numbers: list[str], caller: str, method: str, request_id: str, correlation_id: str, caller_note: str = ""
) -> list[TrailRow]:
    """The rows `record` would write, for a writer that batches them (`copy_rows`)."""
    return [(number, caller, caller_note, method, request_id, correlation_id) for number in numbers]


async def copy_rows(conn: Connection, rows: list[TrailRow]) -> None:
    """Many trail rows in one round trip, in the caller's transaction."""
    await conn.copy_records_to_table("person_trail", records=rows, columns=TRAIL_COLUMNS)


@dataclass(frozen=True)
class TrailEntry:
    id: int
    caller: str
    caller_note: str
    method: str
    request_id: str
    correlation_id: str
    recorded_at: dt.datetime


async def entries(conn: Connection, number: str, after_id: int, limit: int) -> list[TrailEntry]:
    """A person's trail, oldest first, from after `after_id`."""
    rows = await conn.fetch(
        """SELECT id, caller, caller_note, method, request_id, correlation_id, recorded_at FROM person_trail
           WHERE resident_id_number = $1 AND id > $2 ORDER BY id LIMIT $3""",
        number,
        after_id,
        limit,
    )
    return [TrailEntry(**dict(row)) for row in rows]
