"""A local WeChat Pay: signs payment notifications with its platform private key and encrypts the
transaction under the merchant's APIv3 key, as WeChat Pay API v3 does (the documents are cited in
services/collection/channels/wechat_pay_v3.py, the verifier of what this builds)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.collection.channels.wechat_pay_v3 import ALGORITHM, EVENT_TYPE, signed_message
from services.common.clock import CST

Callback = tuple[dict[str, str], bytes]


@dataclass(frozen=True)
class WechatPaySimulator:
    mchid: str
    appid: str
    apiv3_key: bytes
    platform_key: RSAPrivateKey
    serial: str

    def transaction(self, order_id: str, amount_fen: int, transaction_id: str, paid_at: dt.datetime) -> bytes:
        """The decrypted resource: the transaction as the query API also returns it."""
        return json.dumps(
            {
                "appid": self.appid,
                "mchid": self.mchid,
                "out_trade_no": order_id,
                "transaction_id": transaction_id,
                "trade_type": "JSAPI",
                "trade_state": "SUCCESS",
                "trade_state_desc": "支付成功",
                "bank_type": "OTHERS",
                "success_time": paid_at.astimezone(CST).isoformat(timespec="seconds"),
                "payer": {"openid": "sim-openid"},
                "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY", "payer_currency": "CNY"},
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    def body(self, plaintext: bytes, created: dt.datetime) -> bytes:
        nonce = secrets.token_urlsafe(9)[:12]
        sealed = AESGCM(self.apiv3_key).encrypt(nonce.encode(), plaintext, b"transaction")
        return json.dumps(
            {
                "id": str(uuid.uuid4()),
                "create_time": created.astimezone(CST).isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": EVENT_TYPE,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": ALGORITHM,
                    "ciphertext": base64.b64encode(sealed).decode(),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    def sign(self, body: bytes, timestamp: int, nonce: str) -> dict[str, str]:
        """The headers WeChat Pay sends with `body`."""
        signature = self.platform_key.sign(
            signed_message(str(timestamp), nonce, body), padding.PKCS1v15(), hashes.SHA256()
        )
        return {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": str(timestamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": self.serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }

    def build_callback(
        self,
        order_id: str,
        amount_fen: int,
        transaction_id: str,
        paid_at: dt.datetime,
        *,
        sent_at: dt.datetime | None = None,
        nonce: str | None = None,
    ) -> Callback:
        """The POST WeChat Pay makes to our notify_url for a paid order, signed at `sent_at` (default:
        when the payment happened)."""
        sent = sent_at or paid_at
        body = self.body(self.transaction(order_id, amount_fen, transaction_id, paid_at), sent)
        return self.sign(body, int(sent.timestamp()), nonce or secrets.token_hex(16).upper()), body
