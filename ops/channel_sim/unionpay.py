"""A local UnionPay 全渠道 gateway for one channel (bank app, counter, ATM, POS, social-security card,
agreement deduction): signs back notifications (version 5.1.0, signMethod 01) with its signing key and
sends its certificate in signPubKeyCert (documents cited in services/collection/channels/unionpay.py)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.collection.channels.unionpay import SIGN_METHOD, VERSION, sign_content
from services.common.clock import CST

Callback = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class UnionPaySimulator:
    mer_id: str
    signing_key: RSAPrivateKey
    signing_cert_pem: str

    def fields(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> dict[str, str]:
        paid = paid_at.astimezone(CST)
        return {
            "version": VERSION,
            "encoding": "UTF-8",
            "signMethod": SIGN_METHOD,
            "txnType": "01",
            "txnSubType": "01",
            "bizType": "000201",
            "accessType": "0",
            "merId": self.mer_id,
            "orderId": order_id,
            "txnTime": paid.strftime("%Y%m%d%H%M%S"),
            "txnAmt": str(amount_fen),
            "currencyCode": "156",
            "queryId": transaction_id,
            "traceNo": transaction_id[-6:].rjust(6, "0"),
            "traceTime": paid.strftime("%m%d%H%M%S"),
            "settleDate": paid.strftime("%m%d"),
            "settleCurrencyCode": "156",
            "settleAmt": str(amount_fen),
            "respCode": "00",
            "respMsg": "成功[0000000]",
            "signPubKeyCert": self.signing_cert_pem,
        }

    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        signature = self.signing_key.sign(sign_content(fields), padding.PKCS1v15(), hashes.SHA256())
        return {**fields, "signature": base64.b64encode(signature).decode()}

    def build_callback(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> Callback:
        """The back notification (后台通知) POSTed to our backUrl for a paid order."""
        body = urlencode(self.sign(self.fields(order_id, amount_fen, transaction_id, paid_at))).encode()
        return {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}, body
