"""R42: WeChat Pay v3 notifications verified as WeChat Pay signs them (RSA-SHA256 over the timestamp,
nonce and body with the platform key named by the serial; the resource decrypted with AES-256-GCM
under the APIv3 key; 5 minutes of clock; nonces not replayed)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import partial

import pytest

from ops.channel_sim.wechat import WechatPaySimulator
from services.collection.channels import wechat_pay_v3
from services.collection.channels.keys import WechatPayKeys
from services.collection.channels.wechat_pay_v3 import NonceCache, verify_notification
from services.collection.domain.model import Channel
from services.common.errors import DomainError, InvalidArgument, Unauthenticated
from tests.unit.channel_fixtures import NOW, PAID_AT, SERIAL, wechat_keys, wechat_sim


def callback(sim: WechatPaySimulator | None = None, **kwargs: object) -> tuple[dict[str, str], bytes]:
    sim = sim or wechat_sim()
    return sim.build_callback("o-20261203-1", 38000, "4200001234202612030000000001", PAID_AT, **kwargs)  # type: ignore[arg-type]


def refusal(keys: WechatPayKeys, headers: dict[str, str], body: bytes, now: dt.datetime = NOW) -> DomainError:
    with pytest.raises(DomainError) as caught:
        verify_notification(keys, headers, body, now, NonceCache().seen_before)
    return caught.value


def test_a_callback_signed_by_the_simulator_is_the_payment_it_reports() -> None:
    headers, body = callback()
    payment = verify_notification(wechat_keys(), headers, body, NOW, NonceCache().seen_before)
    assert (payment.channel, payment.order_id, payment.transaction_id) == (
        Channel.WECHAT,
        "o-20261203-1",
        "4200001234202612030000000001",
    )
    assert payment.amount_fen == 38000
    assert payment.paid_at == PAID_AT and payment.paid_at.utcoffset() == dt.timedelta(hours=8)
    assert len(payment.payload_sha256) == 32


def test_headers_are_read_whatever_their_case() -> None:
    headers, body = callback()
    lowered = {name.lower(): value for name, value in headers.items()}
    upper = {name.upper(): value for name, value in headers.items()}
    for variant in (lowered, upper):
        assert verify_notification(wechat_keys(), variant, body, NOW).amount_fen == 38000


def test_one_byte_changed_in_the_body_is_refused_as_a_bad_signature() -> None:
    headers, body = callback()
    tampered = body.replace(b'"summary"', b'"summarY"')
    assert tampered != body
    error = refusal(wechat_keys(), headers, tampered)
    assert isinstance(error, Unauthenticated) and error.reason == "SIGNATURE_INVALID"


def test_a_callback_signed_by_another_key_under_a_live_serial_is_refused() -> None:
    headers, body = callback(wechat_sim(key="impostor"))
    assert refusal(wechat_keys(), headers, body).reason == "SIGNATURE_INVALID"


def test_an_unknown_serial_is_refused_naming_it() -> None:
    headers, body = callback(wechat_sim(serial="0000000000UNKNOWN"))
    error = refusal(wechat_keys(), headers, body)
    assert error.reason == "SIGNATURE_INVALID" and "0000000000UNKNOWN" in error.metadata["why"]


@pytest.mark.parametrize("offset_s", [-301, 301, -3600, 86_400])
def test_a_timestamp_more_than_five_minutes_off_is_refused_as_stale(offset_s: int) -> None:
    headers, body = callback(sent_at=NOW + dt.timedelta(seconds=offset_s))
    assert refusal(wechat_keys(), headers, body).reason == "TIMESTAMP_STALE"


@pytest.mark.parametrize("offset_s", [-299, 0, 299])
def test_a_timestamp_within_five_minutes_is_accepted(offset_s: int) -> None:
    headers, body = callback(sent_at=NOW + dt.timedelta(seconds=offset_s))
    assert verify_notification(wechat_keys(), headers, body, NOW).amount_fen == 38000


def test_a_replayed_nonce_is_refused_and_the_first_delivery_was_accepted() -> None:
    headers, body = callback(sent_at=NOW)
    nonces = NonceCache()
    verify_notification(wechat_keys(), headers, body, NOW, nonces.seen_before)
    with pytest.raises(Unauthenticated) as caught:
        verify_notification(wechat_keys(), headers, body, NOW + dt.timedelta(seconds=30), nonces.seen_before)
    assert caught.value.reason == "NONCE_REPLAYED"


def test_the_same_call_tried_again_is_not_a_replay_but_another_call_with_its_nonce_is() -> None:
    """A caller's gRPC retry (same identity and request id) is answered from its record (R20), so its
    nonce is not a replay; the same signed message under another request id, or with none, is."""
    headers, body = callback(sent_at=NOW)
    nonces = NonceCache()
    later = NOW + dt.timedelta(seconds=30)
    verify_notification(wechat_keys(), headers, body, NOW, partial(nonces.seen_before, call="channel:wechat/r1"))
    again = verify_notification(
        wechat_keys(), headers, body, later, partial(nonces.seen_before, call="channel:wechat/r1")
    )
    assert again.amount_fen == 38000
    for other in ("channel:wechat/r2", "channel:alipay/r1", None):
        with pytest.raises(Unauthenticated) as caught:
            verify_notification(wechat_keys(), headers, body, later, partial(nonces.seen_before, call=other))
        assert caught.value.reason == "NONCE_REPLAYED", other


def test_a_forged_callback_does_not_take_a_nonce_from_the_real_one() -> None:
    nonces = NonceCache()
    forged_headers, forged_body = callback(wechat_sim(key="impostor"), sent_at=NOW, nonce="N1")
    with pytest.raises(Unauthenticated):
        verify_notification(wechat_keys(), forged_headers, forged_body, NOW, nonces.seen_before)
    headers, body = callback(sent_at=NOW, nonce="N1")
    assert verify_notification(wechat_keys(), headers, body, NOW, nonces.seen_before).amount_fen == 38000


def test_the_nonce_cache_forgets_after_the_window_and_stays_bounded() -> None:
    nonces = NonceCache(capacity=3)
    stamp = int(NOW.timestamp())
    assert not nonces.seen_before("a", stamp, NOW)
    assert nonces.seen_before("a", stamp, NOW + dt.timedelta(minutes=4))
    assert not nonces.seen_before("a", stamp, NOW + dt.timedelta(minutes=6))
    for nonce in "bcdef":
        nonces.seen_before(nonce, stamp + 400, NOW + dt.timedelta(minutes=6))
    assert len(nonces) == 3


def test_a_notification_for_another_merchant_is_refused() -> None:
    headers, body = callback(wechat_sim(mchid="1900000999"))
    assert refusal(wechat_keys(), headers, body).reason == "MERCHANT_ID_MISMATCH"


def test_a_resource_encrypted_under_another_apiv3_key_is_refused() -> None:
    headers, body = callback(wechat_sim(apiv3_key=b"f" * 32))
    error = refusal(wechat_keys(), headers, body)
    assert error.reason == "SIGNATURE_INVALID" and "APIv3" in error.metadata["why"]


def _resigned(sim: WechatPaySimulator, edit: dict[str, object]) -> tuple[dict[str, str], bytes]:
    """A callback whose notification JSON is edited and then correctly signed again."""
    headers, body = callback(sim, sent_at=NOW)
    document = json.loads(body)
    document.update(edit)
    new_body = json.dumps(document).encode()
    return sim.sign(new_body, int(NOW.timestamp()), headers["Wechatpay-Nonce"]), new_body


def test_a_transaction_not_in_state_success_is_not_a_payment() -> None:
    sim = wechat_sim()
    plaintext = sim.transaction("o1", 100, "t1", PAID_AT).replace(b'"SUCCESS"', b'"NOTPAY"')
    body = sim.body(plaintext, NOW)
    headers = sim.sign(body, int(NOW.timestamp()), "N-notpay")
    error = refusal(wechat_keys(), headers, body)
    assert isinstance(error, InvalidArgument) and error.reason == "MALFORMED_NOTIFICATION"
    assert "NOTPAY" in error.metadata["why"]


@pytest.mark.parametrize(
    "edit",
    [
        {"event_type": "REFUND.SUCCESS"},
        {"resource": {"algorithm": "AEAD_AES_128_GCM", "ciphertext": "", "nonce": "x" * 12}},
        {"resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "!!", "nonce": "x" * 12}},
        {"resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": "AAAA", "nonce": "short"}},
        {"resource": "plain"},
    ],
)
def test_a_signed_notification_of_the_wrong_shape_is_malformed(edit: dict[str, object]) -> None:
    headers, body = _resigned(wechat_sim(), edit)
    error = refusal(wechat_keys(), headers, body)
    assert error.reason == "MALFORMED_NOTIFICATION", error.metadata


@pytest.mark.parametrize(
    "header", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"]
)
def test_a_missing_header_is_refused_as_a_bad_signature(header: str) -> None:
    headers, body = callback(sent_at=NOW)
    del headers[header]
    assert refusal(wechat_keys(), headers, body).reason == "SIGNATURE_INVALID"


def test_a_signature_that_is_not_base64_is_refused() -> None:
    headers, body = callback(sent_at=NOW)
    headers["Wechatpay-Signature"] = "not*base64"
    assert refusal(wechat_keys(), headers, body).reason == "SIGNATURE_INVALID"


def test_the_signed_message_is_three_lines_each_ending_in_a_newline() -> None:
    assert wechat_pay_v3.signed_message("1722850421", "d824f2e0", b'{"a":1}') == b'1722850421\nd824f2e0\n{"a":1}\n'


def test_without_keys_configured_every_callback_is_refused() -> None:
    headers, body = callback()
    with pytest.raises(Unauthenticated):
        verify_notification(None, headers, body, NOW)


def test_the_simulators_signature_is_base64_of_a_2048_bit_signature() -> None:
    headers, _ = callback()
    assert len(base64.b64decode(headers["Wechatpay-Signature"])) == 256
    assert headers["Wechatpay-Serial"] == SERIAL
