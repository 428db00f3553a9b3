"""R20, R3: each channel's notification parsed exactly; no amount ever passes through a float."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.collection.channels.formats import parse
from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.errors import InvalidArgument
from services.common.money import yuan_text


def wechat(total: object, when: str = "2023-12-31T23:59:59+08:00", state: str = "SUCCESS") -> bytes:
    return json.dumps(
        {
            "out_trade_no": "o1",
            "transaction_id": "t1",
            "trade_state": state,
            "success_time": when,
            "amount": {"total": total, "currency": "CNY"},
        }
    ).encode()


def alipay(total: str, when: str = "2023-12-31 23:59:59") -> bytes:
    return urlencode(
        {
            "out_trade_no": "o1",
            "trade_no": "t1",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": total,
            "gmt_payment": when,
        }
    ).encode()


def test_wechat_reports_integer_fen_and_an_offset_time() -> None:
    payment = parse(Channel.WECHAT, wechat(38000))
    assert (payment.order_id, payment.transaction_id, payment.amount_fen) == ("o1", "t1", 38000)
    assert payment.paid_at == dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST)
    assert len(payment.payload_sha256) == 32


@pytest.mark.parametrize("total", [38000.0, "38000", None, True, 0, -1])
def test_wechat_amounts_that_are_not_positive_integer_fen_are_refused(total: object) -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse(Channel.WECHAT, wechat(total))
    assert refused.value.field == "payload"


def test_wechat_times_without_an_offset_and_unsuccessful_trades_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="no UTC offset"):
        parse(Channel.WECHAT, wechat(38000, when="2023-12-31T23:59:59"))
    with pytest.raises(InvalidArgument, match="not SUCCESS"):
        parse(Channel.WECHAT, wechat(38000, state="NOTPAY"))


def test_alipay_yuan_text_becomes_exact_fen_and_its_time_is_cst() -> None:
    payment = parse(Channel.ALIPAY, alipay("380.00"))
    assert payment.amount_fen == 38000
    assert payment.paid_at == dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST)


@pytest.mark.parametrize("total", ["380.001", "380,00", "3.8e2", "-380.00", "", "0.00"])
def test_alipay_amounts_that_are_not_exact_positive_yuan_are_refused(total: str) -> None:
    with pytest.raises(InvalidArgument):
        parse(Channel.ALIPAY, alipay(total))


@given(st.integers(1, 10**12))
def test_any_fen_amount_survives_alipays_yuan_text(fen: int) -> None:
    assert parse(Channel.ALIPAY, alipay(yuan_text(fen))).amount_fen == fen


def test_bank_channels_report_fen_as_digits_and_cst_compact_time() -> None:
    body = urlencode(
        {"orderId": "o1", "queryId": "q1", "txnAmt": "38000", "txnTime": "20231231235959", "respCode": "00"}
    )
    for channel in (Channel.BANK_APP, Channel.BANK_COUNTER, Channel.ATM, Channel.POS, Channel.SOCIAL_SECURITY_CARD):
        payment = parse(channel, body.encode())
        assert (payment.amount_fen, payment.paid_at) == (38000, dt.datetime(2023, 12, 31, 23, 59, 59, tzinfo=CST))


def test_a_subsidy_is_not_something_a_channel_notifies() -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse(Channel.SUBSIDY, b"{}")
    assert refused.value.reason == "CHANNEL_NOT_NOTIFIABLE"


def test_garbage_is_malformed() -> None:
    with pytest.raises(InvalidArgument) as refused:
        parse(Channel.WECHAT, b"\xff\x00")
    assert refused.value.reason == "MALFORMED_NOTIFICATION"
