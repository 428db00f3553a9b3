"""R21b, R34: whatever a channel (or someone posing as one) sends, intake refuses it as malformed or
unauthenticated, never with a crash: bounded depth and size, amounts checked against the maximum before
any arithmetic, sane times, a signature compare that is safe for any input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collection.channels import own_format
from services.collection.channels.formats import parse
from services.collection.channels.keys import OwnFormatKeys
from services.collection.domain.model import Channel
from services.collection.domain.notification_records import printable, sample
from services.common.errors import InvalidArgument, Unauthenticated
from services.common.money import MAX_AMOUNT_FEN


def native(**overrides: object) -> bytes:
    document: dict[str, object] = {
        "order_id": "0b6c1c1e-3f43-4c59-9a49-1c1f6c7d1a2b",
        "transaction_id": "t1",
        "amount_fen": 38000,
        "paid_at": "2023-12-31T23:59:59+08:00",
    }
    document.update(overrides)
    return json.dumps(document).encode()


HOSTILE = {
    "nested 10,000 deep": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "amount 2^63": native(amount_fen=2**63),
    "amount 10^30": native(amount_fen=10**30),
    "amount above the maximum": native(amount_fen=MAX_AMOUNT_FEN + 1),
    "a 5,000-digit integer": b'{"amount_fen": ' + b"9" * 5_000 + b"}",
    "year 9999 with an offset": native(paid_at="9999-12-31T23:59:59-14:00"),
    "year 1 with an offset": native(paid_at="0001-01-01T00:00:00+14:00"),
    "an unpaired surrogate in the transaction id": native(transaction_id="\ud800"),
    "a NUL in the order id": native(order_id="a\u0000b"),
    "a 1 MB transaction id": native(transaction_id="t" * 1_000_000),
    "NaN": b'{"amount_fen": NaN}',
    "not UTF-8": b'{"transaction_id": "\xff\xfe"}',
    "larger than the payload bound": b" " * 70_000 + native(),
}


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_payloads_are_malformed_not_crashes(payload: bytes) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse(Channel.E_TAX, payload)
    assert refused.value.reason in {"MALFORMED_NOTIFICATION", "INVALID_AMOUNT"}
    assert len(refused.value.message) < 400


@given(st.binary(max_size=2_000))
def test_any_bytes_are_parsed_or_refused_as_invalid_argument(payload: bytes) -> None:
    for channel in (Channel.WECHAT, Channel.ALIPAY, Channel.BANK_APP, Channel.E_TAX, Channel.FAMILY_MUTUAL_AID):
        try:
            payment = parse(channel, payload)
        except InvalidArgument as refused:
            assert refused.reason in {"MALFORMED_NOTIFICATION", "INVALID_AMOUNT"}
        else:
            assert 0 < payment.amount_fen <= MAX_AMOUNT_FEN


@pytest.mark.parametrize("signature", ["签名", "\ud800", "\x00" * 64, "a" * 100_000, ""])
def test_any_signature_is_compared_safely(signature: str) -> None:
    keys = OwnFormatKeys(keys={"k1": b"k" * 32})
    with pytest.raises(Unauthenticated):
        own_format.verify_signature(Channel.E_TAX, keys, signature, b"{}")


def test_the_stored_sample_is_short_printable_and_masked() -> None:
    text = sample(b'{"holder_id_number": "34080220051125001X", "x": "\x00\xff' + b"y" * 10_000 + b'"}')
    assert len(text) < 400 and "\x00" not in text and "34080220051125001X" not in text and "340802" in text
    assert printable("a\ud800b", 10) == "a\\ud800b"
