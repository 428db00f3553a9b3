"""The channels' published APIs as the simulator answers them (the documents are cited in the clients,
services/collection/gateways/channel_apis/{wechat,alipay,unionpay}.py): requests authenticated with our
merchant's public key, answers signed with the channel's private key."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ops.channel_sim.alipay import AlipaySimulator
from ops.channel_sim.dev_keys import Simulators
from ops.channel_sim.ledger import SimRefund, SimTrade, Trade
from ops.channel_sim.unionpay import UnionPaySimulator
from ops.channel_sim.wechat import WechatPaySimulator
from services.collection.channels import unionpay as unionpay_rules
from services.collection.domain.model import Channel
from services.collection.gateways.channel_apis import alipay as alipay_api
from services.collection.gateways.channel_apis import wechat as wechat_api
from services.common.clock import CST
from services.common.money import fen_from_yuan_text, yuan_text

if TYPE_CHECKING:
    from ops.channel_sim.server import ChannelServer

AUTH_WINDOW = dt.timedelta(minutes=5)
OK = {"code": "10000", "msg": "Success"}


@dataclass(frozen=True)
class Signer:
    family: str
    wechat: WechatPaySimulator | None = None
    alipay: AlipaySimulator | None = None
    unionpay: UnionPaySimulator | None = None

    def callback(self, trade: SimTrade, now: dt.datetime) -> tuple[dict[str, str], bytes]:
        assert trade.paid_at is not None
        args = (trade.order_id, trade.amount_fen, trade.transaction_id, trade.paid_at)
        if self.wechat:
            return self.wechat.build_callback(*args, sent_at=now)
        if self.alipay:
            return self.alipay.build_callback(*args)
        assert self.unionpay
        return self.unionpay.build_callback(*args)


def signer_for(family: str, sims: Simulators, channel: Channel) -> Signer:
    if family == "wechat":
        return Signer(family, wechat=sims.wechat)
    if family == "alipay":
        return Signer(family, alipay=sims.alipay)
    return Signer(family, unionpay=sims.unionpay[channel])


def callback_answered(family: str, status: int, text: str) -> bool:
    """WeChat Pay: any 2xx; Alipay: the body `success`; UnionPay: HTTP 200."""
    if family == "alipay":
        return status == 200 and text.strip() == "success"
    return 200 <= status < 300 if family == "wechat" else status == 200


def add_routes(app: web.Application, server: ChannelServer) -> None:
    if server.family == "wechat":
        WechatRoutes(server).add(app)
    elif server.family == "alipay":
        app.router.add_post("/gateway.do", AlipayRoutes(server).gateway)
    else:
        routes = UnionPayRoutes(server)
        app.router.add_post("/gateway/api/queryTrans.do", routes.query)
        app.router.add_post("/gateway/api/backTransReq.do", routes.back_trans)


class WechatRoutes:
    def __init__(self, server: ChannelServer) -> None:
        self.s = server
        assert server.signer.wechat is not None
        self.sim: WechatPaySimulator = server.signer.wechat

    def add(self, app: web.Application) -> None:
        base = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
        app.router.add_get(base, self.query)
        app.router.add_post(base + "/close", self.close)
        app.router.add_post("/v3/refund/domestic/refunds", self.refund)
        app.router.add_get("/v3/refund/domestic/refunds/{out_refund_no}", self.query_refund)

    def answer(self, status: int, document: dict[str, Any] | None = None) -> web.Response:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode() if document else b""
        headers = self.sim.sign(body, int(self.s.clock.now().timestamp()), secrets.token_hex(16).upper())
        if not body:
            headers.pop("Content-Type", None)
        return web.Response(status=status, body=body, headers=headers)

    async def authenticated(self, request: web.Request) -> bytes | None:
        body = await request.read()
        fields = wechat_api.parse_authorization(request.headers.get("Authorization", ""))
        key = self.s.merchant.keys.get(fields.get("serial_no", ""))
        if key is None or fields.get("mchid") != self.s.merchant.merchant_id:
            return None
        try:
            sent = dt.datetime.fromtimestamp(int(fields.get("timestamp", "0")), dt.UTC)
            message = wechat_api.request_message(
                request.method, request.path_qs, fields["timestamp"], fields["nonce_str"], body
            )
            key.verify(base64.b64decode(fields["signature"]), message, padding.PKCS1v15(), hashes.SHA256())
        except (KeyError, ValueError, InvalidSignature):
            return None
        return body if abs(self.s.clock.now() - sent) <= AUTH_WINDOW else None

    def unauthorized(self) -> web.Response:
        return self.answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})

    def transaction(self, trade: SimTrade) -> dict[str, Any]:
        if trade.state in (Trade.SUCCESS, Trade.REFUND):
            assert trade.paid_at is not None
            paid = json.loads(
                self.sim.transaction(trade.order_id, trade.amount_fen, trade.transaction_id, trade.paid_at)
            )
            return {**paid, "trade_state": trade.state.value}
        return {
            "appid": self.sim.appid,
            "mchid": self.sim.mchid,
            "out_trade_no": trade.order_id,
            "trade_state": trade.state.value,
            "trade_state_desc": "订单已关闭" if trade.state is Trade.CLOSED else "订单未支付",
        }

    async def query(self, request: web.Request) -> web.Response:
        if await self.authenticated(request) is None:
            return self.unauthorized()
        trade = self.s.ledger.trades.get(request.match_info["out_trade_no"])
        if trade is None:
            return self.answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        return self.answer(200, self.transaction(trade))

    async def close(self, request: web.Request) -> web.Response:
        if await self.authenticated(request) is None:
            return self.unauthorized()
        trade = self.s.ledger.close(request.match_info["out_trade_no"])
        if trade.state is Trade.CLOSED:
            return self.answer(204)
        return self.answer(400, {"code": "ORDERPAID", "message": "订单已支付"})

    def refund_document(self, trade: SimTrade, refund: SimRefund) -> dict[str, Any]:
        return {
            "refund_id": refund.channel_refund_id,
            "out_refund_no": refund.refund_no,
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.order_id,
            "channel": "ORIGINAL",
            "status": refund.status,
            "create_time": self.s.clock.now().astimezone(CST).isoformat(timespec="seconds"),
            "amount": {"refund": refund.amount_fen, "total": trade.amount_fen, "currency": "CNY"},
        }

    async def refund(self, request: web.Request) -> web.Response:
        body = await self.authenticated(request)
        if body is None:
            return self.unauthorized()
        document = json.loads(body)
        order_id = str(document.get("out_trade_no", ""))
        result = self.s.ledger.refund(order_id, str(document["out_refund_no"]), int(document["amount"]["refund"]))
        if isinstance(result, str):
            return self.answer(403 if result == "NOT_ENOUGH" else 400, {"code": result, "message": "退款被拒绝"})
        return self.answer(200, self.refund_document(self.s.ledger.trades[order_id], result))

    async def query_refund(self, request: web.Request) -> web.Response:
        if await self.authenticated(request) is None:
            return self.unauthorized()
        found = self.s.ledger.find_refund(request.match_info["out_refund_no"])
        if found is None:
            return self.answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})
        return self.answer(200, self.refund_document(*found))


class AlipayRoutes:
    def __init__(self, server: ChannelServer) -> None:
        self.s = server
        assert server.signer.alipay is not None
        self.sim: AlipaySimulator = server.signer.alipay

    def answer(self, method: str, content: dict[str, Any]) -> web.Response:
        body = alipay_api.signed_response(method, content, self.sim.private_key)
        return web.Response(body=body, content_type="application/json", charset="utf-8")

    def authentic(self, params: dict[str, str]) -> bool:
        if params.get("app_id") != self.s.merchant.merchant_id or params.get("sign_type") != "RSA2":
            return False
        content = alipay_api.request_content(params)
        for key in self.s.merchant.keys.values():
            try:
                key.verify(base64.b64decode(params.get("sign", "")), content, padding.PKCS1v15(), hashes.SHA256())
                return True
            except (ValueError, InvalidSignature):
                continue
        return False

    async def gateway(self, request: web.Request) -> web.Response:
        params = dict(parse_qsl((await request.read()).decode("utf-8")))
        method = params.get("method", "")
        if not self.authentic(params):
            return self.answer(
                method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
            )
        handler = {
            "alipay.trade.query": self.query,
            "alipay.trade.close": self.close,
            "alipay.trade.refund": self.refund,
            "alipay.trade.fastpay.refund.query": self.query_refund,
        }.get(method)
        if handler is None:
            return self.answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"})
        return self.answer(method, handler(json.loads(params.get("biz_content", "{}"))))

    def query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.s.ledger.trades.get(str(biz.get("out_trade_no", "")))
        return _not_exist() if trade is None else {**OK, **self.trade(trade)}

    def close(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.s.ledger.close(str(biz.get("out_trade_no", "")))
        if trade.state is Trade.CLOSED:
            return {**OK, "out_trade_no": trade.order_id}
        return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"}

    def refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        order_id = str(biz.get("out_trade_no", ""))
        result = self.s.ledger.refund(
            order_id, str(biz["out_request_no"]), fen_from_yuan_text(str(biz["refund_amount"]))
        )
        if isinstance(result, str):
            sub = "ACQ.TRADE_NOT_ALLOW_REFUND" if result != "NOT_ENOUGH" else "ACQ.SELLER_BALANCE_NOT_ENOUGH"
            return {"code": "40004", "msg": "Business Failed", "sub_code": sub, "sub_msg": result}
        trade = self.s.ledger.trades[order_id]
        return {**OK, "trade_no": trade.transaction_id, "out_trade_no": order_id,
                "refund_fee": yuan_text(result.amount_fen), "fund_change": "Y"}  # fmt: skip

    def query_refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        found = self.s.ledger.find_refund(str(biz.get("out_request_no", "")))
        if found is None:
            return {**OK, "out_trade_no": str(biz.get("out_trade_no", ""))}  # no refund_status: not refunded
        trade, refund = found
        return {**OK, "trade_no": trade.transaction_id, "out_trade_no": trade.order_id,
                "out_request_no": refund.refund_no, "refund_status": "REFUND_SUCCESS",
                "refund_amount": yuan_text(refund.amount_fen)}  # fmt: skip

    def trade(self, trade: SimTrade) -> dict[str, Any]:
        states = {Trade.NOTPAY: "WAIT_BUYER_PAY", Trade.CLOSED: "TRADE_CLOSED", Trade.SUCCESS: "TRADE_SUCCESS",
                  Trade.REFUND: "TRADE_SUCCESS"}  # fmt: skip
        found: dict[str, Any] = {"out_trade_no": trade.order_id, "trade_status": states[trade.state]}
        if trade.paid_at is not None:
            found |= {
                "trade_no": trade.transaction_id,
                "total_amount": yuan_text(trade.amount_fen),
                "buyer_pay_amount": yuan_text(trade.amount_fen),
                "send_pay_date": trade.paid_at.astimezone(CST).strftime(alipay_api.TIME),
            }
        return found


def _not_exist() -> dict[str, Any]:
    return {"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}


class UnionPayRoutes:
    """queryTrans (txnType 00) and backTransReq refunds (退货, txnType 04)."""

    def __init__(self, server: ChannelServer) -> None:
        self.s = server
        assert server.signer.unionpay is not None
        self.sim: UnionPaySimulator = server.signer.unionpay

    def answer(self, fields: dict[str, str]) -> web.Response:
        common = {"version": unionpay_rules.VERSION, "encoding": "UTF-8", "signMethod": unionpay_rules.SIGN_METHOD,
                  "merId": self.sim.mer_id, "signPubKeyCert": self.sim.signing_cert_pem}  # fmt: skip
        body = urlencode(self.sim.sign({**common, **fields}))
        return web.Response(text=body, content_type="application/x-www-form-urlencoded", charset="utf-8")

    async def params(self, request: web.Request) -> dict[str, str] | None:
        params = dict(parse_qsl((await request.read()).decode("utf-8"), keep_blank_values=True))
        if params.get("merId") != self.s.merchant.merchant_id:
            return None
        content = unionpay_rules.sign_content(params)
        for key in self.s.merchant.keys.values():
            try:
                key.verify(base64.b64decode(params.get("signature", "")), content, padding.PKCS1v15(), hashes.SHA256())
                return params
            except (ValueError, InvalidSignature):
                continue
        return None

    async def query(self, request: web.Request) -> web.Response:
        params = await self.params(request)
        if params is None:
            return self.answer({"respCode": "11", "respMsg": "验证签名失败"})
        order_id = params.get("orderId", "")
        found = self.s.ledger.find_refund(order_id)
        if found is not None:  # a refund is queried by its own orderId
            _trade, refund = found
            return self.answer({"respCode": "00", "orderId": order_id, "txnType": "04", "origRespCode": "00",
                                "queryId": refund.channel_refund_id, "txnAmt": str(refund.amount_fen)})  # fmt: skip
        trade_ = self.s.ledger.trades.get(order_id)
        if trade_ is None:
            return self.answer({"respCode": "34", "respMsg": "查无此交易", "orderId": order_id})
        fields = {"respCode": "00", "orderId": order_id, "txnType": "01"}
        if trade_.paid_at is not None:
            fields |= {"origRespCode": "00", "queryId": trade_.transaction_id, "txnAmt": str(trade_.amount_fen),
                       "txnTime": trade_.paid_at.astimezone(CST).strftime("%Y%m%d%H%M%S")}  # fmt: skip
        else:
            fields["origRespCode"] = "05" if trade_.state is Trade.NOTPAY else "12"
        return self.answer(fields)

    async def back_trans(self, request: web.Request) -> web.Response:
        params = await self.params(request)
        if params is None:
            return self.answer({"respCode": "11", "respMsg": "验证签名失败"})
        trade = next((t for t in self.s.ledger.trades.values() if t.transaction_id == params.get("origQryId")), None)
        if trade is None:
            return self.answer({"respCode": "35", "respMsg": "原交易不存在", "orderId": params.get("orderId", "")})
        result = self.s.ledger.refund(trade.order_id, params.get("orderId", ""), int(params.get("txnAmt", "0")))
        if isinstance(result, str):
            return self.answer({"respCode": "12", "respMsg": result, "orderId": params.get("orderId", "")})
        return self.answer({"respCode": "00", "respMsg": "成功", "orderId": result.refund_no,
                            "queryId": result.channel_refund_id, "txnType": "04"})  # fmt: skip
