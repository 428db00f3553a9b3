"""Alipay open platform gateway APIs (R43, R23): alipay.trade.query, alipay.trade.close,
alipay.trade.refund and alipay.trade.fastpay.refund.query.

- Request (公共请求参数): app_id, method, format=JSON, charset=utf-8, sign_type=RSA2, timestamp
  "yyyy-MM-dd HH:mm:ss", version=1.0, biz_content (JSON); sign = SHA256withRSA under our app private key
  over every parameter but `sign` with a value, sorted, name=value joined by & (签名: 剔除 sign 字段,
  剔除值为空的参数; unlike the notification's check, sign_type is signed).
  https://global.alipay.com/docs/ac/solution_api/trade-query (公共参数 and trade_status),
  https://opendocs.alipay.com/common/02kf5q (生成签名)
- Response: {"alipay_trade_query_response": {...}, "sign": "..."}; the signature is over the response
  object's JSON text exactly as sent (同步返回验签), verified with Alipay's public key of our app.
  code 10000 success, 40004 business failure (sub_code ACQ.TRADE_NOT_EXIST, ACQ.TRADE_STATUS_ERROR, ...),
  20000 service unavailable; https://opendocs.alipay.com/common/02km9f (公共错误码)
- trade_status WAIT_BUYER_PAY, TRADE_CLOSED, TRADE_SUCCESS, TRADE_FINISHED; total_amount in yuan;
  send_pay_date the payment time (CST).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.collection.channels.keys import KeyStore
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment, check_positive_amount
from services.collection.gateways.channel_apis.http import Transport
from services.collection.gateways.channel_apis.merchant_keys import AlipayMerchant
from services.collection.gateways.channel_apis.ports import (
    ChannelApiError,
    RefundAnswer,
    RefundRequest,
    RefundState,
    TradeAnswer,
    TradeState,
)
from services.common.clock import CST, Clock
from services.common.money import fen_from_yuan_text, yuan_text

SUCCESS, BUSINESS_FAILED = "10000", "40004"
PAID_STATES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
TIME = "%Y-%m-%d %H:%M:%S"


def request_content(params: Mapping[str, str]) -> bytes:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "").encode("utf-8")


def sign_request(params: dict[str, str], key: RSAPrivateKey) -> dict[str, str]:
    signature = key.sign(request_content(params), padding.PKCS1v15(), hashes.SHA256())
    return {**params, "sign": base64.b64encode(signature).decode()}


def response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


def signed_response(method: str, content: Mapping[str, Any], key: RSAPrivateKey) -> bytes:
    """What Alipay answers (the simulator builds it): the response object and its signature."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    signature = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f'{{"{response_key(method)}":{text},"sign":"{base64.b64encode(signature).decode()}"}}'.encode()


def signed_part(body: bytes, method: str) -> tuple[str, dict[str, Any], str]:
    """The response object's exact text, the object, and the signature."""
    text = body.decode("utf-8", errors="replace")
    marker = f'"{response_key(method)}":'
    start = text.find(marker)
    if start < 0:
        raise ChannelApiError(f"Alipay's answer lacks {response_key(method)}")
    decoder = json.JSONDecoder()
    try:
        content, end = decoder.raw_decode(text, start + len(marker))
        whole = json.loads(text)
    except ValueError:
        raise ChannelApiError("Alipay's answer is not JSON") from None
    if not isinstance(content, dict) or not isinstance(whole, dict):
        raise ChannelApiError("Alipay's answer is not a JSON object")
    return text[start + len(marker) : end], content, str(whole.get("sign", ""))


class AlipayApi:
    channels = frozenset({Channel.ALIPAY})

    def __init__(
        self, gateway_url: str, merchant: AlipayMerchant, keys: KeyStore, clock: Clock, transport: Transport
    ) -> None:
        self._url, self._merchant, self._keys, self._clock, self._http = gateway_url, merchant, keys, clock, transport

    async def _call(self, method: str, biz: Mapping[str, Any]) -> dict[str, Any]:
        params = {
            "app_id": self._merchant.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self._clock.now().astimezone(CST).strftime(TIME),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        body = urlencode(sign_request(params, self._merchant.private_key)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
        reply = await self._http.call("POST", self._url, headers, body)
        if reply.status != 200:
            raise ChannelApiError(f"Alipay answered HTTP {reply.status}")
        text, content, sign = signed_part(reply.body, method)
        self._verify(text, sign)
        code = str(content.get("code", ""))
        if code not in (SUCCESS, BUSINESS_FAILED):
            raise ChannelApiError(f"Alipay answered {code} {str(content.get('sub_code', ''))[:40]}")
        return content

    def _verify(self, text: str, sign: str) -> None:
        keys = self._keys.current().alipay
        live = keys.apps.get(self._merchant.app_id, ()) if keys else ()
        try:
            signature = base64.b64decode(sign, validate=True)
        except ValueError:
            raise ChannelApiError("Alipay's answer has no signature") from None
        for key in live:
            try:
                key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
                return
            except InvalidSignature:
                continue
        raise ChannelApiError("Alipay's answer does not verify under Alipay's public key")

    async def query_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        content = await self._call("alipay.trade.query", {"out_trade_no": order_id})
        if content["code"] == BUSINESS_FAILED:
            sub = str(content.get("sub_code", ""))
            if sub == "ACQ.TRADE_NOT_EXIST":
                return TradeAnswer(TradeState.NOT_FOUND, detail=sub)
            raise ChannelApiError(f"Alipay refused the query: {sub}")
        state = str(content.get("trade_status", ""))
        if state in PAID_STATES:
            return TradeAnswer(TradeState.PAID, self._payment(channel, content), detail=state)
        if state == "WAIT_BUYER_PAY":
            return TradeAnswer(TradeState.NOT_PAID, detail=state)
        return TradeAnswer(TradeState.CLOSED, detail=state)

    def _payment(self, channel: Channel, content: Mapping[str, Any]) -> ChannelPayment:
        try:
            paid_at = dt.datetime.strptime(str(content["send_pay_date"]), TIME).replace(tzinfo=CST)
            return ChannelPayment(
                channel=channel,
                transaction_id=str(content["trade_no"]),
                order_id=str(content["out_trade_no"]),
                amount_fen=check_positive_amount(fen_from_yuan_text(str(content["total_amount"]))),
                paid_at=paid_at,
                payload_sha256=hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest(),
            )
        except (KeyError, ValueError) as error:
            raise ChannelApiError(f"Alipay's trade does not read: {error}") from None

    async def close_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        content = await self._call("alipay.trade.close", {"out_trade_no": order_id})
        if content["code"] == SUCCESS:
            return TradeAnswer(TradeState.CLOSED, detail="TRADE_CLOSED")
        if content.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return TradeAnswer(TradeState.NOT_FOUND, detail="ACQ.TRADE_NOT_EXIST")
        answer = await self.query_order(channel, order_id, ordered_at)  # ACQ.TRADE_STATUS_ERROR: paid?
        if answer.state is TradeState.NOT_PAID:
            raise ChannelApiError(f"Alipay did not close order {order_id}: {content.get('sub_code', '')}")
        return answer

    async def refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        content = await self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": request.order_id,
                "refund_amount": yuan_text(request.amount_fen),
                "out_request_no": request.refund_id,
                "refund_reason": request.reason[:80],
            },
        )
        if content["code"] == BUSINESS_FAILED:
            return RefundAnswer(
                RefundState.REFUSED, detail=f"{content.get('sub_code', '')}: {content.get('sub_msg', '')}"
            )
        state = RefundState.SUCCEEDED if content.get("fund_change") == "Y" else RefundState.PROCESSING
        return RefundAnswer(state, str(content.get("trade_no", "")) + "/" + request.refund_id, "fund_change")

    async def query_refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        content = await self._call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": request.order_id, "out_request_no": request.refund_id}
        )
        if content["code"] == BUSINESS_FAILED:
            return RefundAnswer(RefundState.REFUSED, detail=str(content.get("sub_code", "")))
        if content.get("refund_status") == "REFUND_SUCCESS":
            return RefundAnswer(RefundState.SUCCEEDED, str(content.get("trade_no", "")) + "/" + request.refund_id)
        return RefundAnswer(RefundState.PROCESSING, detail=str(content.get("refund_status", "")))
