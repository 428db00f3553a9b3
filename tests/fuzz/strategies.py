"""Hypothesis strategies for hostile calls, built from the protobuf descriptors: every field of every
request gets plausible values and the hostile classes of issue 9 (control characters, NUL, huge and
deep values, out-of-range numbers and enums, broken page tokens, bytes that are not protobuf, payloads
signed correctly but hostile inside)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2, field_rules_pb2

from services.collection.channels.keys import OWN_FORMAT_CHANNELS
from services.collection.domain.model import Channel
from tests.e2e import channels as channels_helper
from tests.factories import resident_id

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
MAX_DEPTH = 3

HOSTILE_TEXT = st.sampled_from(
    [
        "\x00",
        "a\x00b",
        "\x1b[31m",
        "line\nbreak",
        "\u202eevil",
        "\u2028",
        "\ufeff",
        "３４０８００",
        "😀" * 10,
        "' OR 1=1 --",
        "%s%n%x",
        "../../etc/passwd",
        "null",
        " ",
    ]
)
# Long values are built when drawn: in the strategy's repr they would be megabytes.
LONG_TEXT = st.tuples(st.sampled_from(["x", "名", "9", "\x00"]), st.sampled_from([65, 257, 1_025, 5_000, 70_000])).map(
    lambda pair: pair[0] * pair[1]
)
UUIDS = st.uuids().map(str)
RESIDENT_IDS = st.builds(
    resident_id,
    st.dates(dt.date(1940, 1, 1), dt.date(2023, 11, 1)),
    st.sampled_from(["340802", "340811", "654002", "110105"]),
    st.integers(0, 999),
)
PLAUSIBLE_TEXT = st.sampled_from(
    ["340800", "341800", "AQ-1", "张三", "安庆市", "13800138000", "officer-1", "hospital-1", "2024", "OTHER"]
)


def _broken_tokens() -> st.SearchStrategy[str]:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    shapes = [
        b64(json.dumps({"c": cursor, "f": "0" * 16, "e": 4_102_444_800}).encode()) + "." + b64(b"\x00" * 16)
        for cursor in (["text"], [-1], [10**40], [None], [[[["nested"]]]], [{"a": 1}])
    ]
    deep = st.sampled_from([100, 50_000]).map(lambda n: b64(("[" * n + "]" * n).encode()))
    return (
        st.sampled_from(["a.b", "....", "e30", "!!!", *shapes])
        | deep
        | deep.map(lambda token: token + ".AAAA")
        | st.text(max_size=40)
    )


def text_values(field: FieldDescriptor) -> st.SearchStrategy[str]:
    if field.name == "page_token":
        return _broken_tokens()
    plausible: list[st.SearchStrategy[str]] = [PLAUSIBLE_TEXT]
    if field.name.endswith("id_number"):
        plausible.append(RESIDENT_IDS)
    if field.name.endswith("_id") or field.name.endswith("_ids"):
        plausible.append(UUIDS)
    return st.one_of(*plausible, HOSTILE_TEXT, LONG_TEXT, st.text(max_size=30))


def _rules(field: FieldDescriptor) -> field_rules_pb2.FieldRules:
    return field.GetOptions().Extensions[field_rules_pb2.rules]


def scalar_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return text_values(field)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64) | st.sampled_from([10, 70_000]).map(lambda n: b"\x00" * n)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 15) | st.sampled_from(INT32)
    if kind == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        return messages(field.message_type, depth + 1)
    low, high = {
        FieldDescriptor.TYPE_INT32: INT32,
        FieldDescriptor.TYPE_SINT32: INT32,
        FieldDescriptor.TYPE_SFIXED32: INT32,
        FieldDescriptor.TYPE_UINT32: UINT32,
        FieldDescriptor.TYPE_FIXED32: UINT32,
        FieldDescriptor.TYPE_UINT64: UINT64,
        FieldDescriptor.TYPE_FIXED64: UINT64,
    }.get(kind, INT64)
    edges = st.sampled_from([low, high, -1, 0, 1, 2023, 2024, 38000, 10**12 + 1])
    return st.integers(low, high) | edges.filter(lambda v: low <= v <= high)


def field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    element = scalar_values(field, depth)
    if not field.is_repeated:
        return element
    cap = _rules(field).max_items or 100
    return st.lists(element, max_size=3) | st.just([smallest(field)] * (cap + 1))


def smallest(field: FieldDescriptor) -> Any:
    """A tiny valid element, for lists one longer than their cap (their size, not their content, is hostile)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        return GetMessageClass(field.message_type)()
    if field.type == FieldDescriptor.TYPE_STRING:
        return "a"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return b"a"
    return 1


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """A message of this type with any subset of its fields set to plausible or hostile values."""
    cls = GetMessageClass(descriptor)
    if depth > MAX_DEPTH or descriptor.full_name.startswith("google.protobuf."):
        return st.just(cls())
    if descriptor.GetOptions().map_entry:
        return st.just(cls())
    fields = {f.name: st.none() | field_values(f, depth) for f in descriptor.fields}

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            if value is None:
                continue
            _set(message, descriptor.fields_by_name[name], value)
        return message

    return st.fixed_dictionaries(fields).map(build)


def _set(message: Message, field: FieldDescriptor, value: Any) -> None:
    if field.is_repeated:
        container = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for element in value:
                container.add().CopyFrom(element)
        else:
            container.extend(value)
    elif field.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(message, field.name).CopyFrom(value)
    else:
        setattr(message, field.name, value)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _invalid_utf8_in_a_string(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING]
    if not strings:
        return st.just(b"\x0a\x02\xff\xfe")
    bad = st.sampled_from([b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\x80", b"a\x80"])
    return st.tuples(st.sampled_from(strings), bad).map(
        lambda pair: _varint(pair[0].number << 3 | 2) + _varint(len(pair[1])) + pair[1]
    )


def raw_bodies(descriptor: Descriptor) -> st.SearchStrategy[bytes]:
    """Bytes that are not a valid request of this type."""
    return st.one_of(
        st.binary(min_size=1, max_size=64),
        _invalid_utf8_in_a_string(descriptor),
        st.sampled_from([b"\xff" * 8, b"\x0a\x7f", b"\x08" + b"\xff" * 11, b"\x0b" * 200]),
    )


def _hostile_payloads() -> st.SearchStrategy[bytes]:
    base = {
        "order_id": "0b6c1c1e-3f43-4c59-9a49-1c1f6c7d1a2b",
        "transaction_id": "t1",
        "amount_fen": 38000,
        "paid_at": "2023-11-20T09:00:00+08:00",
    }
    variants: list[dict[str, Any]] = [
        {},  # well formed: an order nobody created
        {"amount_fen": 2**63},
        {"amount_fen": 10**30},
        {"amount_fen": -1},
        {"amount_fen": 0},
        {"amount_fen": "38000"},
        {"amount_fen": True},
        {"paid_at": "9999-12-31T23:59:59-14:00"},
        {"paid_at": "0001-01-01T00:00:00+14:00"},
        {"paid_at": "2023-12-31T23:59:59"},
        {"transaction_id": "\ud800"},
        {"transaction_id": "a\x00b"},
        {"order_id": "x" * 1_000},
        {"holder_id_number": "\x00"},
    ]
    documents = st.sampled_from(variants).map(lambda change: json.dumps({**base, **change}).encode())
    specials = st.sampled_from(
        [
            b'{"amount_fen": NaN}',
            b"[]",
            b"\xff\xfe",
            b"total_amount=1e5&trade_status=TRADE_SUCCESS",
        ]
    )
    deep = st.sampled_from([10, 10_000]).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
    digits = st.sampled_from([19, 5_000]).map(lambda n: b'{"amount_fen": ' + b"9" * n + b"}")
    well_formed = st.just(json.dumps(base).encode())
    return well_formed | documents | specials | deep | digits | st.binary(max_size=200)


def _own_signature(channel: Channel, payload: bytes) -> str:
    """Our own format's signature under the channel's own key (e-tax, family); the other channels sign
    in headers these payloads do not have, so they are refused as unsigned (R42)."""
    return channels_helper.own_signature(channel, payload) if channel in OWN_FORMAT_CHANNELS else ""


def notifications() -> st.SearchStrategy[Message]:
    """NotifyPayment requests correctly signed for their channel, hostile inside (and some not signed)."""
    # Our own shape (e-tax) half the time, so well-formed payloads get as far as the order lookup.
    channels = st.just(Channel.E_TAX) | st.sampled_from([c for c in Channel if c is not Channel.SUBSIDY])

    def build(channel: Channel, payload: bytes, signature: str | None, request_id: str) -> Message:
        return col.NotifyPaymentRequest(
            request_id=request_id,
            channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel}"),
            payload=payload,
            signature=_own_signature(channel, payload) if signature is None else signature,
        )

    return st.builds(
        build,
        channels,
        _hostile_payloads(),
        st.none() | st.none() | st.sampled_from(["签名", "00", "Z" * 600]),
        UUIDS,
    )


def calls(method: MethodDescriptor) -> st.SearchStrategy[bytes]:
    """The bytes of one hostile call of `method`."""
    structured = messages(method.input_type).map(lambda m: m.SerializeToString())
    options = [structured, raw_bodies(method.input_type)]
    if method.name == "NotifyPayment":
        options.insert(0, notifications().map(lambda m: m.SerializeToString()))
    return st.one_of(*options)
