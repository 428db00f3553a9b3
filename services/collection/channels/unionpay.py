"""UnionPay 全渠道 (UPOP) back notifications (后台通知, R42): the bank app, counter, ATM, POS,
social-security card and agreement deduction channels, each with its own merchant configuration.

Version 5.1.0 with signMethod 01 (RSA), as UnionPay's SDK (SDKUtil.validate, CertUtil.verifyCertificate)
does it:
1. the form's parameters except `signature` (and without empty values, which the sender filters out,
   SDKUtil.filterBlank), sorted by name, joined as name=value with "&" (coverMap2String), UTF-8;
2. its SHA-256 digest as lower-case hex (SecureUtil.sha256X16), and those hex characters are what is
   signed with SHA256withRSA (PKCS#1 v1.5); `signature` is the base64 of the signature;
3. the public key is the certificate sent in `signPubKeyCert` (PEM), which must be valid now, chain to
   the configured intermediate and root certificates (the SDK's acpsdk.middleCert / acpsdk.rootCert),
   and name the configured signer as the third '@' field of its CN (中国银联股份有限公司 for UnionPay).
Then respCode "00" is a payment; txnAmt in fen; orderId ours, queryId UnionPay's; txnTime
yyyyMMddHHmmss in CST; merId must be this channel's merchant.

Documents: https://open.unionpay.com/tjweb/api/dictionary?apiSvcId=448 (网关支付 产品接口, 后台通知)
and the SDK's source, UnionPay's acp SDK as published in https://github.com/Javen205/IJPay
(IJPay-UnionPay/src/main/java/com/ijpay/unionpay/SDKUtil.java, CertUtil.java, SecureUtil.java, "@author
UnionPay"); the 全渠道 test guide (中国银联全渠道系统商户接入 测试指引, 签名机制),
https://cnblogs.com/wuyida/p/6300317.html.
Only 5.1.0/01 is accepted: 5.0.0 signs a SHA-1 digest under a certId looked up locally, which R42's
RSA-SHA256 with the channel's certificate excludes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.x509.oid import NameOID

from services.collection.channels import formats
from services.collection.channels.formats import malformed
from services.collection.channels.keys import UnionPayKeys
from services.collection.channels.refusals import (
    CERTIFICATE_UNTRUSTED,
    MERCHANT_ID_MISMATCH,
    refused,
    signature_invalid,
)
from services.collection.domain.model import Channel
from services.collection.domain.payments import ChannelPayment, check_positive_amount
from services.common.text_rules import ID

VERSION = "5.1.0"
SIGN_METHOD = "01"
SUCCESS = "00"
CNY = "156"
MAX_CERT_CHARS = 8192
MAX_SIGNATURE_CHARS = 1024
_DIGITS = re.compile(r"[0-9]{1,15}")


def sign_content(fields: Mapping[str, str]) -> bytes:
    """What is signed: the lower-case hex SHA-256 of the sorted name=value&... string (without
    `signature` and empty values), as ASCII bytes."""
    signed = sorted((name, value) for name, value in fields.items() if name != "signature" and value != "")
    text = "&".join(f"{name}={value}" for name, value in signed)
    return hashlib.sha256(text.encode("utf-8")).hexdigest().encode("ascii")


def signer_of(cert: x509.Certificate) -> str:
    """The signer a UnionPay certificate names: the third '@' field of its CN (CertUtil's
    getIdentitiesFromCertficate); empty when it has none."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    parts = str(names[0].value).split("@") if names else []
    return parts[2] if len(parts) > 2 else ""


def _valid_at(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _chains(cert: x509.Certificate, keys: UnionPayKeys, now: dt.datetime) -> bool:
    """The certificate is issued by a root, or by an intermediate a root issued; every link valid now
    and each issuer a CA."""
    roots = [root for root in keys.roots if _valid_at(root, now) and _is_ca(root)]
    if any(_issued_by(cert, root) for root in roots):
        return True
    return any(
        _valid_at(middle, now)
        and _is_ca(middle)
        and _issued_by(cert, middle)
        and any(_issued_by(middle, root) for root in roots)
        for middle in keys.intermediates
    )


def signing_key(channel: Channel, keys: UnionPayKeys, pem: str, now: dt.datetime) -> RSAPublicKey:
    """The public key of the certificate in signPubKeyCert, once it is trusted for `channel`."""
    if not pem or len(pem) > MAX_CERT_CHARS:
        raise signature_invalid(channel, "signPubKeyCert is missing")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise signature_invalid(channel, "signPubKeyCert is not a PEM certificate") from None
    if not _valid_at(cert, now):
        raise refused(CERTIFICATE_UNTRUSTED, channel, "the signing certificate is not valid now")
    if not _chains(cert, keys, now):
        raise refused(CERTIFICATE_UNTRUSTED, channel, "the signing certificate does not chain to our roots")
    if signer_of(cert) != keys.signer:
        raise refused(CERTIFICATE_UNTRUSTED, channel, f"the signing certificate names {signer_of(cert)[:40]!r}")
    key = cert.public_key()
    if not isinstance(key, RSAPublicKey):
        raise refused(CERTIFICATE_UNTRUSTED, channel, "the signing certificate's key is not RSA")
    return key


def verify_fields(channel: Channel, keys: UnionPayKeys, fields: Mapping[str, str], now: dt.datetime) -> None:
    """Raises unless `fields` are signed under a certificate trusted for `channel`, for our merchant."""
    if fields.get("version") != VERSION or fields.get("signMethod") != SIGN_METHOD:
        raise signature_invalid(channel, f"only version {VERSION} with signMethod {SIGN_METHOD} is accepted")
    key = signing_key(channel, keys, fields.get("signPubKeyCert", ""), now)
    text = fields.get("signature", "")
    if not text or len(text) > MAX_SIGNATURE_CHARS:
        raise signature_invalid(channel, "signature is missing")
    try:
        key.verify(base64.b64decode(text, validate=True), sign_content(fields), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        raise signature_invalid(channel, "signature does not verify") from None
    if fields.get("merId") != keys.mer_id:
        raise refused(
            MERCHANT_ID_MISMATCH, channel, f"merId {fields.get('merId', '')[:20]!r} is not ours", field="payload"
        )


def verify_notification(
    channel: Channel, keys: UnionPayKeys | None, headers: Mapping[str, str], body: bytes, now: dt.datetime
) -> ChannelPayment:
    """The payment of a back notification to `channel` (`body` the raw form), once it verifies."""
    del headers
    if keys is None:
        raise signature_invalid(channel, f"no gateway keys are configured for {channel}")
    fields = formats.form_fields(body)
    if fields.get("encoding", "UTF-8").upper() not in ("UTF-8", "UTF8"):
        raise malformed(f"encoding {fields.get('encoding', '')[:16]!r} is not UTF-8")
    verify_fields(channel, keys, fields, now)
    if fields.get("respCode") != SUCCESS:
        raise malformed(f"respCode is {fields.get('respCode', '')[:8]!r}, not 00 (success)")
    if fields.get("currencyCode", CNY) != CNY:
        raise malformed(f"currencyCode {fields.get('currencyCode', '')[:8]!r} is not 156 (CNY)")
    amount = formats.text_field(fields, "txnAmt")
    if not _DIGITS.fullmatch(amount):
        raise malformed(f"txnAmt {amount[:20]!r} is not a number of fen")
    return ChannelPayment(
        channel=channel,
        transaction_id=formats.text_field(fields, "queryId", ID),
        order_id=formats.text_field(fields, "orderId", ID),
        amount_fen=check_positive_amount(int(amount)),
        paid_at=formats.cst_time(formats.text_field(fields, "txnTime"), "%Y%m%d%H%M%S", "txnTime"),
        payload_sha256=hashlib.sha256(body).digest(),
    )
