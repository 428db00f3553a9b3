"""R42: the UnionPay-style bank, card and POS channels verified as the 全渠道 gateway signs (version
5.1.0, signMethod 01: SHA256withRSA over the hex SHA-256 of the sorted parameters, the signing
certificate in signPubKeyCert chained to that channel's configured root), merId checked, txnAmt fen."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from urllib.parse import parse_qsl, urlencode

import pytest

from ops.channel_sim import pki
from services.collection.channels.keys import UNIONPAY_CHANNELS
from services.collection.channels.unionpay import sign_content, signer_of, verify_notification
from services.collection.domain.model import Channel
from services.common.errors import DomainError, InvalidArgument, Unauthenticated
from tests.unit.channel_fixtures import NOW, PAID_AT, gateway, rsa, unionpay_keys, unionpay_sim

BANK = Channel.BANK_APP


def callback(channel: Channel = BANK, **changes: object) -> bytes:
    sim = unionpay_sim(channel, **changes)
    return sim.build_callback("o20261203000001", 38000, "782612031030000000001", PAID_AT)[1]


def fields_of(body: bytes) -> dict[str, str]:
    return {name: value for name, value in parse_qsl(body.decode()) if name != "signature"}


def resigned(fields: dict[str, str], channel: Channel = BANK) -> bytes:
    return urlencode(unionpay_sim(channel).sign(fields)).encode()


def refusal(body: bytes, channel: Channel = BANK, now: dt.datetime = NOW) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_notification(channel, unionpay_keys(channel), {}, body, now)
    return caught.value


@pytest.mark.parametrize("channel", UNIONPAY_CHANNELS)
def test_a_callback_signed_by_the_channels_gateway_is_the_payment_it_reports(channel: Channel) -> None:
    payment = verify_notification(channel, unionpay_keys(channel), {}, callback(channel), NOW)
    assert (payment.channel, payment.order_id, payment.transaction_id) == (
        channel,
        "o20261203000001",
        "782612031030000000001",
    )
    assert payment.amount_fen == 38000
    assert payment.paid_at == PAID_AT.replace(microsecond=0)


def test_one_byte_changed_is_refused_as_a_bad_signature() -> None:
    body = callback()
    tampered = body.replace(b"txnAmt=38000", b"txnAmt=38001")
    assert tampered != body
    error = refusal(tampered)
    assert isinstance(error, Unauthenticated) and error.reason == "SIGNATURE_INVALID"


def test_a_signature_by_another_key_than_the_certificates_is_refused() -> None:
    assert refusal(callback(signing_key=rsa("impostor"))).reason == "SIGNATURE_INVALID"


def test_a_certificate_not_chained_to_the_root_is_refused_even_with_the_same_names() -> None:
    (root, _), (middle, _), (leaf, _) = gateway(BANK)
    made = NOW - dt.timedelta(days=1)
    fake_root = pki.certificate("bank_app root CA", None, ca=True, now=made)
    fake_middle = pki.certificate("bank_app intermediate CA", fake_root, ca=True, now=made)
    fake_leaf, fake_key = pki.certificate("041@Zsim@signer-bank_app@00000001", fake_middle, ca=False, now=made)
    assert (fake_root[0].subject, fake_middle[0].subject, fake_leaf.subject) == (
        root.subject,
        middle.subject,
        leaf.subject,
    )
    body = callback(signing_key=fake_key, signing_cert_pem=pki.pem_certificate(fake_leaf).decode())
    error = refusal(body)
    assert error.reason == "CERTIFICATE_UNTRUSTED" and "chain" in error.metadata["why"]


def test_another_bank_channels_gateway_cannot_sign_for_this_one() -> None:
    error = refusal(callback(Channel.ATM, mer_id=unionpay_keys(BANK).mer_id))
    assert error.reason == "CERTIFICATE_UNTRUSTED"


def test_a_certificate_naming_another_signer_is_refused() -> None:
    keys = dataclasses.replace(unionpay_keys(BANK), signer="中国银联股份有限公司")
    with pytest.raises(Unauthenticated) as caught:
        verify_notification(BANK, keys, {}, callback(), NOW)
    assert caught.value.reason == "CERTIFICATE_UNTRUSTED"


def test_a_certificate_out_of_its_validity_is_refused() -> None:
    assert refusal(callback(), now=NOW + dt.timedelta(days=900)).reason == "CERTIFICATE_UNTRUSTED"
    assert refusal(callback(), now=NOW - dt.timedelta(days=2)).reason == "CERTIFICATE_UNTRUSTED"


def test_a_leaf_certificate_cannot_act_as_an_intermediate() -> None:
    _, _, (leaf, leaf_key) = gateway(BANK)
    child, child_key = pki.certificate("041@Zsim@signer-bank_app@2", (leaf, leaf_key), ca=False, now=NOW)
    keys = dataclasses.replace(unionpay_keys(BANK), intermediates=(*unionpay_keys(BANK).intermediates, leaf))
    body = callback(signing_key=child_key, signing_cert_pem=pki.pem_certificate(child).decode())
    with pytest.raises(Unauthenticated) as caught:
        verify_notification(BANK, keys, {}, body, NOW)
    assert caught.value.reason == "CERTIFICATE_UNTRUSTED"


def test_a_notification_for_another_merchant_is_refused() -> None:
    error = refusal(callback(mer_id="777999999999999"))
    assert error.reason == "MERCHANT_ID_MISMATCH"


def test_only_version_5_1_0_with_rsa_is_accepted() -> None:
    fields = fields_of(callback())
    assert refusal(resigned({**fields, "version": "5.0.0"})).reason == "SIGNATURE_INVALID"
    assert refusal(resigned({**fields, "signMethod": "11"})).reason == "SIGNATURE_INVALID"


def test_a_failed_transaction_is_not_a_payment() -> None:
    error = refusal(resigned({**fields_of(callback()), "respCode": "01"}))
    assert isinstance(error, InvalidArgument) and error.reason == "MALFORMED_NOTIFICATION"


@pytest.mark.parametrize("amount", ["380.00", "-1", "0", "", "1e3"])
def test_a_txn_amount_that_is_not_positive_fen_is_malformed(amount: str) -> None:
    error = refusal(resigned({**fields_of(callback()), "txnAmt": amount}))
    assert isinstance(error, InvalidArgument), error.reason


def test_a_missing_certificate_is_refused() -> None:
    fields = fields_of(callback())
    del fields["signPubKeyCert"]
    assert refusal(resigned(fields)).reason == "SIGNATURE_INVALID"


def test_what_is_signed_is_the_lower_hex_sha256_of_the_sorted_fields_without_signature() -> None:
    fields = {"b": "2", "a": "1", "signature": "x", "empty": ""}
    assert sign_content(fields) == hashlib.sha256(b"a=1&b=2").hexdigest().encode()


def test_the_signer_is_the_third_field_of_the_common_name() -> None:
    _, _, (leaf, _) = gateway(Channel.POS)
    assert signer_of(leaf) == "signer-pos"


def test_without_keys_configured_every_callback_is_refused() -> None:
    with pytest.raises(Unauthenticated):
        verify_notification(BANK, None, {}, callback(), NOW)
