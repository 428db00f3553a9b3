"""The platform (services/common) keeps the mechanism; each service hands it its own table (issue 20):
no module of services/common names an agency's RPC, reads an agency's request field or writes SQL
over an agency's table. The names are collected, not listed: RPCs and request fields from the
generated service descriptors of gen/medins/*/v1, tables from the agencies' CREATE TABLE statements."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

from google.protobuf.descriptor import Descriptor, FileDescriptor
from medins.collection.v1 import collection_service_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2
from medins.events.v1 import events_pb2
from medins.registration.v1 import registration_service_pb2
from medins.registration.v1 import registration_service_pb2 as reg
from medins.trail.v1 import person_trail_service_pb2

from services.common.identity import CallerKind
from services.common.person_trail import claimed_caller

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "services" / "common"
AGENCY_PROTOS: tuple[FileDescriptor, ...] = (
    registration_service_pb2.DESCRIPTOR,
    enrollment_check_service_pb2.DESCRIPTOR,
    collection_service_pb2.DESCRIPTOR,
)
# The platform's own messages: what they name is the platform's vocabulary (a resident's number, a
# request id, an event's payload), even where an agency's request uses the same name.
PLATFORM_MESSAGES: tuple[Descriptor, ...] = (
    *person_trail_service_pb2.DESCRIPTOR.message_types_by_name.values(),
    events_pb2.EventEnvelope.DESCRIPTOR,
)
AGENCY_MIGRATIONS = ("insurance", "tax")
CREATE_TABLE = re.compile(r"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)", re.IGNORECASE)
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|TABLE)\b")


def _fields(message: Descriptor, package: str, seen: set[str]) -> Iterator[str]:
    """A request's field names, and those of its own package's messages it holds (a batch's elements)."""
    if message.full_name in seen:
        return
    seen.add(message.full_name)
    for field in message.fields:
        yield field.name
        kind = field.message_type
        if kind is not None and kind.full_name.startswith(package + ".") and not kind.GetOptions().map_entry:
            yield from _fields(kind, package, seen)


def agency_rpcs() -> set[str]:
    return {m.name for f in AGENCY_PROTOS for s in f.services_by_name.values() for m in s.methods}


def agency_request_fields() -> set[str]:
    """Fields of the agencies' requests (and of the messages they hold) that the platform's own messages
    do not also have. The platform may name such a word as its own (an AMQP channel, a log record's
    reason); what it must not do is read it out of a request: by name in a string (a descriptor lookup,
    `"channel" in fields`) or as `request.<field>`."""
    named = {
        name
        for f in AGENCY_PROTOS
        for s in f.services_by_name.values()
        for m in s.methods
        for name in _fields(m.input_type, f.package, set())
    }
    platform = {name for m in PLATFORM_MESSAGES for name in (*m.fields_by_name, *m.oneofs_by_name)}
    return named - platform - platform_sql_words()


def agency_tables() -> set[str]:
    """The agencies' tables; the platform's own (outbox, inbox, idempotency keys, the person trail) are
    created by deploy/migrations/platform and are its to use."""
    return {
        table.lower()
        for agency in AGENCY_MIGRATIONS
        for path in (ROOT / "deploy" / "migrations" / agency).glob("*.sql")
        for table in CREATE_TABLE.findall(path.read_text())
    }


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _platform_modules() -> list[Path]:
    return sorted(PLATFORM.rglob("*.py"))


def _string_value(token: tokenize.TokenInfo) -> str | None:
    text = token.string
    prefix = re.match(r"[a-zA-Z]*", text)
    if prefix is None or "f" in prefix.group().lower() or "b" in prefix.group().lower():
        return None
    try:
        value = eval(text, {"__builtins__": {}})  # a literal token, nothing to run
    except (SyntaxError, ValueError):
        return None
    return value if isinstance(value, str) else None


# The kinds of caller are the platform's (services/common/identity.py): "channel" is a kind of caller there.
OWN_WORDS = {"services/common/identity.py": frozenset(kind.value for kind in CallerKind)}


def _strings(source: str) -> Iterator[tuple[int, str]]:
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and (value := _string_value(token)) is not None:
            yield token.start[0], value


def platform_sql_words() -> frozenset[str]:
    """The names the platform's own SQL uses (its tables' columns, e.g. the outbox's payload, a count's
    alias): a row's key read by such a name is the platform reading its own table, not a request."""
    return frozenset(
        word
        for path in _platform_modules()
        for _, value in _strings(path.read_text())
        if SQL.search(value)
        for word in re.findall(r"[a-z_][a-z0-9_]*", value)
    )


def findings(
    source: str, rpcs: set[str], fields: set[str], tables: set[str], own: frozenset[str] = frozenset()
) -> list[str]:
    """Where `source` names an agency: an RPC name anywhere (code, string or comment), a request field by
    name (a string that is exactly the field, or `request.<field>`), a table in a string of SQL. `own`:
    words the module defines as the platform's own."""
    found = []
    words = re.compile(r"\b(" + "|".join(sorted(rpcs)) + r")\b")
    for number, line in enumerate(source.splitlines(), 1):
        found += [f"{number}: RPC {m.group(1)}" for m in words.finditer(line)]
    for number, value in _strings(source):
        if value in fields and value not in own:
            found.append(f"{number}: field {value!r}")
        if SQL.search(value):
            named = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", value)} & tables
            found += [f"{number}: table {t}" for t in sorted(named)]
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, token in enumerate(tokens):
        if (
            token.type == tokenize.NAME
            and token.string in fields
            and i >= 2
            and tokens[i - 1].string == "."
            and tokens[i - 2].string in {"request", "req"}
        ):
            found.append(f"{token.start[0]}: field request.{token.string}")
    return found


def test_the_names_are_collected_from_the_descriptors_and_the_migrations() -> None:
    rpcs, fields, tables = agency_rpcs(), agency_request_fields(), agency_tables()
    assert {"NotifyPayment", "CheckEnrollment", "ApproveRegistration"} <= rpcs
    assert {"channel", "notifications", "purpose", "officer_id", "payer_id_number"} <= fields
    # The platform's own vocabulary is not an agency's: the person trail names a resident and a request id.
    assert not {"request_id", "resident_id_number", "page_token"} & fields
    assert {"payments", "enrollments", "orders", "channel_notifications"} <= tables
    assert not {"outbox", "inbox", "idempotency_keys", "person_trail"} & tables


def test_no_platform_module_names_an_agencys_rpc_field_or_table() -> None:
    rpcs, fields, tables = agency_rpcs(), agency_request_fields(), agency_tables()
    found = {
        _name(path): hits
        for path in _platform_modules()
        if (hits := findings(path.read_text(), rpcs, fields, tables, OWN_WORDS.get(_name(path), frozenset())))
    }
    assert not found, f"services/common knows an agency (move it to the service's wing): {found}"


def test_the_walk_catches_each_kind_of_agency_knowledge() -> None:
    """The check can fail: each way the platform used to know an agency is found."""
    rpcs, fields, tables = agency_rpcs(), agency_request_fields(), agency_tables()
    samples = {
        '_COL = "/medins.collection.v1.CollectionService/"\nRULES = {_COL + "NotifyPayment": ()}\n': "RPC",
        'channel = "channel" in descriptor.fields_by_name\n': "field",
        "officer = request.officer_id\n": "field",
        'await conn.execute("DELETE FROM payments WHERE paid_at < $1", cutoff)\n': "table",
    }
    for source, kind in samples.items():
        assert any(kind in hit for hit in findings(source, rpcs, fields, tables)), source
    # The platform's own tables and an AMQP channel are its own.
    own = 'await conn.execute("DELETE FROM outbox WHERE published_at < $1", c)\nchannel = await connection.channel()\n'
    assert findings(own, rpcs, fields, tables) == []


def test_the_trail_learns_who_a_request_says_acts_from_the_protos() -> None:
    """The claimed caller (R35, R41) is a field option of the agencies' protos, not a list of their field
    names in the platform."""
    assert claimed_caller(reg.ApproveRegistrationRequest(officer_id="wang")) == "officer_id=wang"
    assert claimed_caller(reg.ListRegionsRequest()) == ""
