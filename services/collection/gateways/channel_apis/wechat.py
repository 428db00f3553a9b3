"""WeChat Pay API v3 order query, close and refunds (R43, R23), as the documents say:

- Authorization (签名生成): `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",
  serial_no="…"`, the signature SHA256withRSA under our merchant API key over
  "{METHOD}\\n{path?query}\\n{timestamp}\\n{nonce}\\n{body}\\n";
  https://pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml (签名生成),
  https://wechatpay-api.gitbook.io/wechatpay-api-v3/qian-ming-zhi-nan-1/qian-ming-sheng-cheng
- Every answer is signed like a notification (Wechatpay-Timestamp/-Nonce/-Signature/-Serial over
  timestamp, nonce and body) and verified with the platform key (channels/wechat_pay_v3.verify_signature).
- 商户订单号查询订单 GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=: trade_state SUCCESS,
  REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR; 404 ORDER_NOT_EXIST;
  https://pay.weixin.qq.com/doc/v3/merchant/4013070356
- 关闭订单 POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close {"mchid"}: 204 without a body;
  https://pay.weixin.qq.com/doc/v3/merchant/4013070360. A paid order is not closed (ORDERPAID): the order is
  then queried and its payment applied.
- 退款申请 POST /v3/refund/domestic/refunds {out_trade_no, out_refund_no, reason, amount{refund, total,
  currency}} and 查询单笔退款 GET /v3/refund/domestic/refunds/{out_refund_no}: status SUCCESS, PROCESSING,
  CLOSED, ABNORMAL; https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_9.shtml and chapter3_1_10.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.collection.channels import formats, wechat_pay_v3
from services.collection.channels.keys import KeyStore
from services.collection.domain.model import Channel
from services.collection.gateways.channel_apis.http import Reply, Transport
from services.collection.gateways.channel_apis.merchant_keys import WechatMerchant
from services.collection.gateways.channel_apis.ports import (
    ChannelApiError,
    RefundAnswer,
    RefundRequest,
    RefundState,
    TradeAnswer,
    TradeState,
)
from services.common.clock import Clock
from services.common.errors import DomainError

SCHEME = "WECHATPAY2-SHA256-RSA2048"
PAID_STATES = frozenset({"SUCCESS", "REFUND"})
OPEN_STATES = frozenset({"NOTPAY", "USERPAYING"})
REFUND_STATES = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PROCESSING,
    "CLOSED": RefundState.REFUSED,
    "ABNORMAL": RefundState.REFUSED,
}
# Errors that say "ask again later", not "no".
TRANSIENT_CODES = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "BANKERROR"})


def request_message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method}\n{path}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def authorization(
    merchant: WechatMerchant | tuple[str, str, RSAPrivateKey], method: str, path: str, body: bytes, now: dt.datetime
) -> str:
    mchid, serial, key = (
        (merchant.mchid, merchant.serial, merchant.private_key) if isinstance(merchant, WechatMerchant) else merchant
    )
    timestamp, nonce = str(int(now.timestamp())), secrets.token_hex(16).upper()
    signature = key.sign(request_message(method, path, timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256())
    fields = {
        "mchid": mchid,
        "nonce_str": nonce,
        "signature": base64.b64encode(signature).decode(),
        "timestamp": timestamp,
        "serial_no": serial,
    }
    return SCHEME + " " + ",".join(f'{name}="{value}"' for name, value in fields.items())


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an Authorization header (what the simulator checks); empty if not this scheme."""
    if not header.startswith(SCHEME + " "):
        return {}
    fields = {}
    for part in header[len(SCHEME) + 1 :].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


def _json(reply: Reply) -> dict[str, Any]:
    try:
        document = json.loads(reply.body or b"{}")
    except ValueError:
        raise ChannelApiError(f"WeChat Pay answered {reply.status} with a body that is not JSON") from None
    if not isinstance(document, dict):
        raise ChannelApiError("WeChat Pay answered with JSON that is not an object")
    return document


class WechatPayApi:
    channels = frozenset({Channel.WECHAT})

    def __init__(
        self, base_url: str, merchant: WechatMerchant, keys: KeyStore, clock: Clock, transport: Transport
    ) -> None:
        self._base, self._merchant, self._keys, self._clock, self._http = (
            base_url.rstrip("/"),
            merchant,
            keys,
            clock,
            transport,
        )

    async def _call(self, method: str, path: str, document: dict[str, Any] | None = None) -> Reply:
        body = json.dumps(document, separators=(",", ":")).encode() if document is not None else b""
        headers = {
            "Authorization": authorization(self._merchant, method, path, body, self._clock.now()),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        reply = await self._http.call(method, self._base + path, headers, body if document is not None else None)
        keys = self._keys.current().wechat
        if keys is None:
            raise ChannelApiError("no WeChat Pay platform keys are configured")
        try:
            wechat_pay_v3.verify_signature(keys, reply.headers, reply.body, self._clock.now())
        except DomainError as refusal:
            raise ChannelApiError(f"WeChat Pay's answer does not verify: {refusal}") from None
        if reply.status >= 500:
            raise ChannelApiError(f"WeChat Pay answered {reply.status}")
        return reply

    async def query_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_id)}?mchid={quote(self._merchant.mchid)}"
        reply = await self._call("GET", path)
        document = _json(reply)
        if reply.status == 404:
            return TradeAnswer(TradeState.NOT_FOUND, detail=str(document.get("code", "")))
        if reply.status != 200:
            raise ChannelApiError(f"WeChat Pay answered {reply.status} {document.get('code', '')}")
        state = str(document.get("trade_state", ""))
        if state in PAID_STATES:
            if document.get("mchid") != self._merchant.mchid:
                raise ChannelApiError("the queried transaction is not our merchant's")
            try:
                paid = reply.body if state == "SUCCESS" else json.dumps({**document, "trade_state": "SUCCESS"}).encode()
                payment = formats.wechat(channel, paid)
            except DomainError as refusal:
                raise ChannelApiError(f"the queried transaction does not read: {refusal}") from None
            payment = replace(payment, payload_sha256=hashlib.sha256(reply.body).digest())
            return TradeAnswer(TradeState.PAID, payment, detail=state)
        if state in OPEN_STATES:
            return TradeAnswer(TradeState.NOT_PAID, detail=state)
        return TradeAnswer(TradeState.CLOSED, detail=state)

    async def close_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        path = f"/v3/pay/transactions/out-trade-no/{quote(order_id)}/close"
        reply = await self._call("POST", path, {"mchid": self._merchant.mchid})
        if reply.status == 204:
            return TradeAnswer(TradeState.CLOSED, detail="CLOSED")
        answer = await self.query_order(channel, order_id, ordered_at)  # ORDERPAID and the like: what is it now?
        if answer.state is TradeState.NOT_PAID:
            raise ChannelApiError(f"WeChat Pay did not close order {order_id}: {_json(reply).get('code', '')}")
        return answer

    async def refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        reply = await self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "out_trade_no": request.order_id,
                "out_refund_no": request.refund_id,
                "reason": request.reason[:80],
                "amount": {"refund": request.amount_fen, "total": request.total_fen, "currency": "CNY"},
            },
        )
        return self._refund_answer(reply)

    async def query_refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        return self._refund_answer(await self._call("GET", f"/v3/refund/domestic/refunds/{quote(request.refund_id)}"))

    def _refund_answer(self, reply: Reply) -> RefundAnswer:
        document = _json(reply)
        if reply.status != 200:
            code = str(document.get("code", ""))
            if code in TRANSIENT_CODES or not code:
                raise ChannelApiError(f"WeChat Pay answered {reply.status} {code}")
            return RefundAnswer(RefundState.REFUSED, detail=f"{code}: {str(document.get('message', ''))[:200]}")
        state = REFUND_STATES.get(str(document.get("status", "")))
        if state is None:
            raise ChannelApiError(f"WeChat Pay's refund status {str(document.get('status'))[:20]!r} is unknown")
        return RefundAnswer(state, str(document.get("refund_id", "")), str(document.get("status", "")))
