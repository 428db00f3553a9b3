"""UnionPay 全渠道 back-transaction APIs for the bank channels (R43, R23): 交易状态查询 queryTrans
(txnType 00) and 退货 (refund, txnType 04) through backTransReq, version 5.1.0, signMethod 01.

- Requests are form posts signed as the gateway signs its own (channels/unionpay.sign_content: the
  SHA-256 hex of the sorted name=value&... string, signed SHA256withRSA) with our merchant signing key,
  certId the serial of our signing certificate.
- Answers are signed by the gateway with the certificate in signPubKeyCert, checked exactly as a back
  notification is (channels/unionpay.verify_fields: chained to the configured roots, our merId).
- queryTrans: respCode 00 means the query worked and origRespCode says the original transaction's fate
  (00 success; 03, 04, 05 in progress; anything else failed); respCode 34 查无此交易.
  https://open.unionpay.com/tjweb/acproduct/APIList?acpAPIId=901&apiservId=455&version=V2.4&bussType=0
  (交易状态查询), https://open.unionpay.com/tjweb/acproduct/APIList?apiservId=448 (退货, origQryId, txnAmt)
- A consumption is not closed at the gateway: its payTimeout (sent when the order is opened) ends it, so
  close_order asks the order's state and reports an unpaid one as CLOSED.
Orders are identified by orderId and txnTime together (the order's creation time).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from services.collection.channels import formats
from services.collection.channels import unionpay as rules
from services.collection.channels.keys import KeyStore
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment, check_positive_amount
from services.collection.gateways.channel_apis.http import Transport
from services.collection.gateways.channel_apis.merchant_keys import GatewayMerchant
from services.collection.gateways.channel_apis.ports import (
    ChannelApiError,
    RefundAnswer,
    RefundRequest,
    RefundState,
    TradeAnswer,
    TradeState,
)
from services.common.clock import CST, Clock
from services.common.errors import DomainError

IN_PROGRESS = frozenset({"03", "04", "05"})
NOT_FOUND = "34"
QUERY_PATH, BACK_PATH = "/gateway/api/queryTrans.do", "/gateway/api/backTransReq.do"


class UnionPayApi:
    def __init__(
        self,
        base_url: str,
        merchants: dict[Channel, GatewayMerchant],
        keys: KeyStore,
        clock: Clock,
        transport: Transport,
    ) -> None:
        self._base, self._merchants, self._keys, self._clock, self._http = (
            base_url.rstrip("/"), merchants, keys, clock, transport,
        )  # fmt: skip
        self.channels = frozenset(merchants)

    async def _call(self, channel: Channel, path: str, fields: dict[str, str]) -> dict[str, str]:
        merchant = self._merchants[channel]
        cert = x509.load_pem_x509_certificate(merchant.cert_pem.encode())
        params = {
            "version": rules.VERSION, "encoding": "UTF-8", "signMethod": rules.SIGN_METHOD, "txnSubType": "00",
            "bizType": "000201", "accessType": "0", "merId": merchant.mer_id, "certId": str(cert.serial_number),
            **fields,
        }  # fmt: skip
        signature = merchant.private_key.sign(rules.sign_content(params), padding.PKCS1v15(), hashes.SHA256())
        body = urlencode({**params, "signature": base64.b64encode(signature).decode()}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
        reply = await self._http.call("POST", self._base + path, headers, body)
        if reply.status != 200:
            raise ChannelApiError(f"the {channel} gateway answered HTTP {reply.status}")
        keys = self._keys.current().unionpay.get(channel)
        if keys is None:
            raise ChannelApiError(f"no gateway keys are configured for {channel}")
        try:
            answer = formats.form_fields(reply.body)
            rules.verify_fields(channel, keys, answer, self._clock.now())
        except DomainError as refusal:
            raise ChannelApiError(f"the {channel} gateway's answer does not verify: {refusal}") from None
        return answer

    @staticmethod
    def _time(at: dt.datetime) -> str:
        return at.astimezone(CST).strftime("%Y%m%d%H%M%S")

    async def query_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        answer = await self._call(
            channel, QUERY_PATH, {"txnType": "00", "orderId": order_id, "txnTime": self._time(ordered_at)}
        )
        code, original = answer.get("respCode", ""), answer.get("origRespCode", "")
        if code == NOT_FOUND:
            return TradeAnswer(TradeState.NOT_FOUND, detail=code)
        if code != "00":
            raise ChannelApiError(f"the {channel} gateway refused the query: {code}")
        if original == "00":
            return TradeAnswer(TradeState.PAID, self._payment(channel, answer), detail=original)
        return TradeAnswer(TradeState.NOT_PAID if original in IN_PROGRESS else TradeState.CLOSED, detail=original)

    def _payment(self, channel: Channel, answer: dict[str, str]) -> ChannelPayment:
        try:
            return ChannelPayment(
                channel=channel,
                transaction_id=formats.text_field(answer, "queryId"),
                order_id=formats.text_field(answer, "orderId"),
                amount_fen=check_positive_amount(int(formats.text_field(answer, "txnAmt"))),
                paid_at=formats.cst_time(formats.text_field(answer, "txnTime"), "%Y%m%d%H%M%S", "txnTime"),
                payload_sha256=hashlib.sha256(urlencode(sorted(answer.items())).encode()).digest(),
            )
        except (DomainError, ValueError) as error:
            raise ChannelApiError(f"the {channel} gateway's transaction does not read: {error}") from None

    async def close_order(self, channel: Channel, order_id: str, ordered_at: dt.datetime) -> TradeAnswer:
        answer = await self.query_order(channel, order_id, ordered_at)
        if answer.state is TradeState.NOT_PAID:
            return TradeAnswer(TradeState.CLOSED, detail="payTimeout")
        return answer

    async def refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        answer = await self._call(channel, BACK_PATH, {
            "txnType": "04", "orderId": request.refund_id, "origQryId": request.transaction_id,
            "txnAmt": str(request.amount_fen), "txnTime": self._time(self._clock.now()), "backUrl": "http://localhost/",
        })  # fmt: skip
        code = answer.get("respCode", "")
        if code == "00":
            return RefundAnswer(RefundState.PROCESSING, answer.get("queryId", ""), code)
        if code in IN_PROGRESS:
            raise ChannelApiError(f"the {channel} gateway is busy: {code}")
        return RefundAnswer(RefundState.REFUSED, detail=f"{code}: {answer.get('respMsg', '')[:200]}")

    async def query_refund(self, channel: Channel, request: RefundRequest) -> RefundAnswer:
        answer = await self._call(
            channel,
            QUERY_PATH,
            {"txnType": "00", "orderId": request.refund_id, "txnTime": self._time(self._clock.now())},
        )
        code, original = answer.get("respCode", ""), answer.get("origRespCode", "")
        if code == "00" and original == "00":
            return RefundAnswer(RefundState.SUCCEEDED, answer.get("queryId", ""), original)
        if code == "00" and original in IN_PROGRESS:
            return RefundAnswer(RefundState.PROCESSING, detail=original)
        return RefundAnswer(RefundState.REFUSED, detail=f"{code}/{original}")
