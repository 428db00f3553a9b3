"""A local Alipay: signs asynchronous payment notifications with its private key (RSA2), as the Alipay
open platform does (documents cited in services/collection/channels/alipay.py, the verifier)."""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.collection.channels.alipay import SIGN_TYPE, sign_content
from services.common.clock import CST
from services.common.money import yuan_text

Callback = tuple[dict[str, str], bytes]
_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class AlipaySimulator:
    app_id: str
    private_key: RSAPrivateKey
    seller_id: str = "2088000000000001"

    def fields(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> dict[str, str]:
        paid = paid_at.astimezone(CST)
        return {
            "notify_time": paid.strftime(_TIME),
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": transaction_id,
            "out_trade_no": order_id,
            "buyer_id": "2088000000000002",
            "seller_id": self.seller_id,
            "trade_status": "TRADE_SUCCESS",
            "total_amount": yuan_text(amount_fen),
            "receipt_amount": yuan_text(amount_fen),
            "buyer_pay_amount": yuan_text(amount_fen),
            "subject": "城乡居民医保缴费",
            "gmt_create": paid.strftime(_TIME),
            "gmt_payment": paid.strftime(_TIME),
        }

    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        """`fields` with sign_type and sign added."""
        signature = self.private_key.sign(sign_content(fields), padding.PKCS1v15(), hashes.SHA256())
        return {**fields, "sign_type": SIGN_TYPE, "sign": base64.b64encode(signature).decode()}

    def build_callback(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> Callback:
        """The form POST Alipay makes to our notify_url for a paid order."""
        body = urlencode(self.sign(self.fields(order_id, amount_fen, transaction_id, paid_at))).encode()
        return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, body
