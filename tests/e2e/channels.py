"""Test-side channel simulators: notifications in each channel's own shape, signed as the channel would."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import urlencode

from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from services.collection.channels.signature import HmacSignatures
from services.collection.domain.model import Channel
from services.common.clock import CST
from services.common.money import yuan_text
from services.common.settings import Settings
from tests.e2e.requests import new_request_id

SIGNATURES = HmacSignatures(Settings().channel_secret)


def wechat(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "out_trade_no": order_id,
            "transaction_id": transaction_id or f"4200{uuid.uuid4().hex[:24]}",
            "trade_state": "SUCCESS",
            "success_time": paid_at.astimezone(CST).isoformat(),
            "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY"},
        }
    ).encode()


def alipay(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> bytes:
    return urlencode(
        {
            "out_trade_no": order_id,
            "trade_no": transaction_id or f"2023{uuid.uuid4().hex[:24]}",
            "trade_status": "TRADE_SUCCESS",
            "total_amount": yuan_text(amount_fen),
            "gmt_payment": paid_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
        }
    ).encode()


def bank(order_id: str, amount_fen: int, paid_at: dt.datetime, transaction_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "orderId": order_id,
            "queryId": transaction_id or uuid.uuid4().hex[:21],
            "txnAmt": str(amount_fen),
            "txnTime": paid_at.astimezone(CST).strftime("%Y%m%d%H%M%S"),
            "respCode": "00",
        }
    ).encode()


def family(
    order_id: str, amount_fen: int, paid_at: dt.datetime, holder: str, transaction_id: str | None = None
) -> bytes:
    return json.dumps(
        {
            "order_id": order_id,
            "transaction_id": transaction_id or uuid.uuid4().hex,
            "holder_id_number": holder,
            "amount_fen": amount_fen,
            "paid_at": paid_at.astimezone(CST).isoformat(),
        }
    ).encode()


def notification(channel: Channel, payload: bytes, *, request_id: str | None = None) -> col.NotifyPaymentRequest:
    return col.NotifyPaymentRequest(
        request_id=request_id or new_request_id(),
        channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{channel}"),
        payload=payload,
        signature=SIGNATURES.sign(channel, payload),
    )
