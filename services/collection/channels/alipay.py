"""Alipay asynchronous payment notifications (R42), verified and read as the documentation says.

The notification is a form-encoded POST (charset utf-8). Verification (异步通知验签, RSA2):
1. every parameter except `sign` and `sign_type` takes part, its value URL-decoded; parameters without
   a value are left out (the SDKs' getSignContent skips empty values);
2. sorted by name, joined as name=value with "&";
3. `sign` base64-decoded and checked with SHA256withRSA (PKCS#1 v1.5) under Alipay's public key for
   the notification's `app_id`, which must be one of ours (several keys per app may be live at once).
Then trade_status TRADE_SUCCESS or TRADE_FINISHED is a payment; total_amount is yuan with at most two
decimals, converted to fen exactly (services.common.money.fen_from_yuan_text, never a float);
gmt_payment is "yyyy-MM-dd HH:mm:ss" in Asia/Shanghai; out_trade_no is our order, trade_no Alipay's.

Documents: 自行实现验签 / 异步通知验签 of the Alipay open platform, as published at
https://developer.aliyun.com/article/707521 ("除去sign、sign_type两个参数外 … 进行url_decode, 然后进行字典
排序"); 签名机制 https://global.alipay.com/docs/ac/app_cn/ds_mechanism and
https://developer.alibaba.com/docs/doc.htm?articleId=103596&docType=1&treeId=58 (empty values take no part);
the notification's parameters (App支付 异步通知, https://docs.open.alipay.com/204/105301/, reproduced at
https://blog.csdn.net/xinzi11243094/article/details/84646183); retries for 25 h until the answer
"success": https://docs.antom.com/ac/web_cn/async
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from services.collection.channels import formats
from services.collection.channels.formats import malformed
from services.collection.channels.keys import AlipayKeys
from services.collection.channels.refusals import APP_ID_MISMATCH, refused, signature_invalid
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment

CHANNEL = Channel.ALIPAY
UNSIGNED = frozenset({"sign", "sign_type"})
SIGN_TYPE = "RSA2"
CHARSETS = frozenset({"utf-8", "utf8"})
MAX_SIGN_CHARS = 1024


def sign_content(fields: Mapping[str, str]) -> bytes:
    """The string Alipay signs: the decoded parameters but sign and sign_type, without empty values,
    sorted by name, as name=value joined by &, in UTF-8."""
    signed = sorted((name, value) for name, value in fields.items() if name not in UNSIGNED and value != "")
    return "&".join(f"{name}={value}" for name, value in signed).encode("utf-8")


def verify_fields(keys: AlipayKeys, fields: Mapping[str, str]) -> None:
    """Raises unless `fields` are signed by Alipay for one of our apps."""
    app_id = fields.get("app_id", "")
    live = keys.apps.get(app_id)
    if live is None:
        raise refused(APP_ID_MISMATCH, CHANNEL, f"app_id {app_id[:32]!r} is not one of ours", field="payload")
    if fields.get("sign_type") != SIGN_TYPE:
        raise signature_invalid(CHANNEL, f"sign_type is {fields.get('sign_type', '')[:16]!r}, not {SIGN_TYPE}")
    text = fields.get("sign", "")
    if not text or len(text) > MAX_SIGN_CHARS:
        raise signature_invalid(CHANNEL, "sign is missing")
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise signature_invalid(CHANNEL, "sign is not base64") from None
    content = sign_content(fields)
    for key in live:
        try:
            key.verify(signature, content, padding.PKCS1v15(), hashes.SHA256())
            return
        except InvalidSignature:
            continue
    raise signature_invalid(CHANNEL, "sign does not verify under Alipay's public key")


def verify_notification(keys: AlipayKeys | None, headers: Mapping[str, str], body: bytes) -> ChannelPayment:
    """The payment of an Alipay asynchronous notification (`body` the raw form), once it verifies.
    Alipay sends nothing in the headers that is signed; they are accepted for one interface."""
    del headers
    if keys is None:
        raise signature_invalid(CHANNEL, "no Alipay keys are configured")
    fields = formats.form_fields(body)
    if fields.get("charset", "utf-8").lower() not in CHARSETS:
        raise malformed(f"charset {fields.get('charset', '')[:16]!r} is not utf-8")
    verify_fields(keys, fields)
    payment = formats.alipay(CHANNEL, body)
    return replace(payment, payload_sha256=hashlib.sha256(body).digest())
