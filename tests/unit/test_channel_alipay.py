"""R42: Alipay asynchronous notifications verified as Alipay signs them (RSA2 over the sorted,
decoded parameters without sign, sign_type and empty values; our app_id), the amount converted from
yuan to fen exactly (R3)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collection.channels.alipay import sign_content, verify_notification
from services.collection.channels.keys import AlipayKeys
from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.errors import DomainError, InvalidArgument, Unauthenticated
from services.common.money import MAX_AMOUNT_FEN
from tests.unit.channel_fixtures import APP_ID, PAID_AT, alipay_keys, alipay_sim


def callback(amount_fen: int = 38000, **sim: str) -> tuple[dict[str, str], bytes]:
    return alipay_sim(**sim).build_callback("o-20261203-1", amount_fen, "2026120322001404560500000001", PAID_AT)


def signed(fields: dict[str, str], key: str = "alipay-1") -> bytes:
    """`fields` signed by Alipay's key, as a form body."""
    return urlencode(alipay_sim(key=key).sign(fields)).encode()


def fields_of(body: bytes) -> dict[str, str]:
    return {name: value for name, value in parse_qsl(body.decode()) if name not in ("sign", "sign_type")}


def refusal(body: bytes, keys: AlipayKeys | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_notification(keys or alipay_keys(), {}, body)
    return caught.value


def test_a_callback_signed_by_the_simulator_is_the_payment_it_reports() -> None:
    headers, body = callback()
    payment = verify_notification(alipay_keys(), headers, body)
    assert (payment.channel, payment.order_id, payment.transaction_id) == (
        Channel.ALIPAY,
        "o-20261203-1",
        "2026120322001404560500000001",
    )
    assert payment.amount_fen == 38000
    assert payment.paid_at == PAID_AT.replace(microsecond=0).astimezone(CST)


def test_trade_finished_is_a_payment_too_and_a_closed_trade_is_not() -> None:
    _, body = callback()
    finished = signed({**fields_of(body), "trade_status": "TRADE_FINISHED"})
    assert verify_notification(alipay_keys(), {}, finished).amount_fen == 38000
    error = refusal(signed({**fields_of(body), "trade_status": "TRADE_CLOSED"}))
    assert isinstance(error, InvalidArgument) and error.reason == "MALFORMED_NOTIFICATION"


def test_one_byte_changed_is_refused_as_a_bad_signature() -> None:
    _, body = callback()
    tampered = body.replace(b"total_amount=380.00", b"total_amount=381.00")
    assert tampered != body
    error = refusal(tampered)
    assert isinstance(error, Unauthenticated) and error.reason == "SIGNATURE_INVALID"


def test_a_callback_signed_by_another_key_is_refused() -> None:
    _, body = callback(key="impostor")
    assert refusal(body).reason == "SIGNATURE_INVALID"


def test_a_notification_for_another_app_is_refused_as_app_id_mismatch() -> None:
    _, body = callback(app_id="2021009999999999")
    error = refusal(body)
    assert error.reason == "APP_ID_MISMATCH" and "2021009999999999" in error.metadata["why"]


def test_two_alipay_keys_live_for_the_app_both_verify() -> None:
    keys = alipay_keys("alipay-1", "alipay-2")
    for key in ("alipay-1", "alipay-2"):
        _, body = callback(key=key)
        assert verify_notification(keys, {}, body).amount_fen == 38000


def test_an_rsa1_sign_type_is_refused() -> None:
    _, body = callback()
    assert refusal(body.replace(b"sign_type=RSA2", b"sign_type=RSA")).reason == "SIGNATURE_INVALID"


def test_an_amount_with_three_decimals_is_refused_even_when_signed() -> None:
    _, body = callback()
    error = refusal(signed({**fields_of(body), "total_amount": "380.001"}))
    assert error.reason == "MALFORMED_NOTIFICATION" and "total_amount" in error.metadata["why"]


@pytest.mark.parametrize("junk", ["1e3", "-1.00", "+1", " ", "1,00", "０.５", "NaN", "380.", ".5", "00.10"])
def test_an_amount_that_is_not_plain_yuan_is_refused(junk: str) -> None:
    _, body = callback()
    assert refusal(signed({**fields_of(body), "total_amount": junk})).reason == "MALFORMED_NOTIFICATION"


@given(st.integers(min_value=1, max_value=MAX_AMOUNT_FEN))
def test_every_amount_in_yuan_arrives_as_exactly_its_fen(amount_fen: int) -> None:
    _, body = callback()
    yuan = Decimal(amount_fen).scaleb(-2).quantize(Decimal("0.01"))
    payment = verify_notification(alipay_keys(), {}, signed({**fields_of(body), "total_amount": str(yuan)}))
    assert payment.amount_fen == amount_fen


@given(st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3))
def test_a_third_decimal_that_is_not_zero_is_never_rounded(amount: Decimal) -> None:
    text = f"{amount:.3f}"
    if text.endswith("0"):
        return
    _, body = callback()
    assert refusal(signed({**fields_of(body), "total_amount": text})).reason == "MALFORMED_NOTIFICATION"


def test_the_signed_content_is_sorted_decoded_and_leaves_out_sign_sign_type_and_empty_values() -> None:
    fields = {"b": "2", "a": "x y", "sign": "s", "sign_type": "RSA2", "empty": "", "c": "中文"}
    assert sign_content(fields) == "a=x y&b=2&c=中文".encode()


def test_an_empty_value_takes_no_part_in_the_signature() -> None:
    _, body = callback()
    assert verify_notification(alipay_keys(), {}, body + b"&passback_params=").amount_fen == 38000


def test_a_field_given_twice_is_malformed() -> None:
    _, body = callback()
    assert refusal(body + b"&total_amount=1.00").reason == "MALFORMED_NOTIFICATION"


def test_a_gbk_notification_is_refused_as_malformed() -> None:
    _, body = callback()
    assert refusal(signed({**fields_of(body), "charset": "gbk"})).reason == "MALFORMED_NOTIFICATION"


def test_without_keys_configured_every_callback_is_refused() -> None:
    _, body = callback()
    with pytest.raises(Unauthenticated):
        verify_notification(None, {}, body)
    assert APP_ID in body.decode()
