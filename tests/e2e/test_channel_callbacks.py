"""R42 and R44 through the real HTTPS callback process: each channel family's simulator-signed callback
applied; one byte changed, another channel's key, a stale timestamp, a replayed nonce refused and stored
with the reason (R21b); a resend is one payment; WeChat Pay platform keys rotated with SIGHUP."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import signal
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from medins.collection.v1 import collection_service_pb2 as col

from ops.channel_sim import pki
from services.collection.channels.formats import MAX_PAYLOAD_BYTES
from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.system import System, callback_certs
from tests.e2e.test_payments import order_for, registered_person
from tests.support import eventually

Sent = tuple[int, bytes]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the run's verification keys of the callback process's own, for rotating them."""
    root = tmp_path_factory.mktemp("callback-keys") / "verify"
    shutil.copytree(channels.verify_dir(), root)
    return root


@pytest.fixture(scope="module")
async def endpoint(system: System, keys: Path) -> AsyncIterator[str]:
    system.start("callbacks", {"MEDINS_CHANNEL_KEYS_DIR": str(keys)})
    await system.wait_ready(["callbacks"])
    yield system.callbacks_url
    system.stop("callbacks")


async def post(url: str, headers: dict[str, str], body: bytes) -> Sent:
    context = ssl.create_default_context(cafile=str(callback_certs() / "ca.pem"))
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers, ssl=context) as answer,
    ):
        return answer.status, await answer.read()


async def pending(registration: RegistrationClient, collection: CollectionClient) -> col.Order:
    number, items = await registered_person(registration, collection, name="回调")
    return await order_for(collection, number, items[:1])


async def outcomes(system: System, order_id: str) -> list[str]:
    rows = await system.query(
        "tax", "SELECT outcome FROM channel_notifications WHERE order_id = $1 ORDER BY notification_id", order_id
    )
    return [r["outcome"] for r in rows]


async def recorded(system: System, body: bytes) -> list[str]:
    rows = await system.query(
        "tax",
        "SELECT outcome FROM channel_notifications WHERE payload_sha256 = $1 ORDER BY notification_id",
        hashlib.sha256(body).digest(),
    )
    return [r["outcome"] for r in rows]


async def payments(system: System, order_id: str) -> int:
    return int(await system.value("tax", "SELECT count(*) FROM payments WHERE order_id = $1::uuid", order_id))


def flipped(body: bytes) -> bytes:
    return body[:-1] + bytes([body[-1] ^ 1])


async def test_a_wechat_callback_is_applied_once_and_forgeries_are_refused_and_stored(
    system: System, endpoint: str, registration: RegistrationClient, collection: CollectionClient
) -> None:
    order = await pending(registration, collection)
    url = f"{endpoint}/callbacks/wechat"
    paid = channels.wechat(order.order_id, order.total_fen, START)
    headers, body = channels.callback(Channel.WECHAT, paid)

    assert await post(url, headers, flipped(body)) == (401, b'{"code": "FAIL", "message": "SIGNATURE_INVALID"}')
    stale = channels.callback(Channel.WECHAT, paid, sent_at=channels.now(START) - dt.timedelta(minutes=6))
    assert (await post(url, *stale))[0] == 401
    sims = channels.simulators()
    other = replace(sims.wechat, platform_key=sims.unionpay[Channel.BANK_APP].signing_key)
    forged = other.build_callback(
        order.order_id, order.total_fen, paid.transaction_id, START, sent_at=channels.now(START)
    )
    assert (await post(url, *forged))[0] == 401

    assert await post(url, headers, body) == (204, b"")
    assert await post(url, headers, body) != (204, b"")  # the same nonce again: a replay
    assert (await post(url, *channels.callback(Channel.WECHAT, paid)))[0] == 204  # WeChat Pay's resend

    assert await recorded(system, flipped(body)) == ["SIGNATURE_INVALID"]
    assert await recorded(system, stale[1]) == ["TIMESTAMP_STALE"]
    assert await recorded(system, body) == ["APPLIED", "NONCE_REPLAYED"]
    assert (await outcomes(system, order.order_id))[-1] == "DUPLICATE_REPLAYED"
    assert await payments(system, order.order_id) == 1


async def test_alipay_and_unionpay_callbacks_are_applied_and_answered_in_their_protocols(
    system: System, endpoint: str, registration: RegistrationClient, collection: CollectionClient
) -> None:
    by_alipay, by_bank = await pending(registration, collection), await pending(registration, collection)
    form = channels.callback(Channel.ALIPAY, channels.alipay(by_alipay.order_id, by_alipay.total_fen, START))
    assert await post(f"{endpoint}/callbacks/alipay", form[0], flipped(form[1])) == (200, b"fail")
    assert await post(f"{endpoint}/callbacks/alipay", *form) == (200, b"success")
    assert await post(f"{endpoint}/callbacks/alipay", *form) == (200, b"success")  # Alipay's resend

    bank = channels.callback(Channel.BANK_APP, channels.bank(by_bank.order_id, by_bank.total_fen, START))
    # Another bank channel's key: the counter's certificate is not the bank app's.
    counter = channels.callback(Channel.BANK_COUNTER, channels.bank(by_bank.order_id, by_bank.total_fen, START))
    assert (await post(f"{endpoint}/callbacks/unionpay/bank_app", *counter))[0] == 401
    assert (await post(f"{endpoint}/callbacks/unionpay/bank_app", bank[0], flipped(bank[1])))[0] == 401
    assert (await post(f"{endpoint}/callbacks/unionpay/bank_app", *bank))[0] == 200
    assert (await post(f"{endpoint}/callbacks/unionpay/bank_app", *bank))[0] == 200

    assert await recorded(system, flipped(form[1])) == ["SIGNATURE_INVALID"]
    assert await recorded(system, counter[1]) == ["CERTIFICATE_UNTRUSTED"]
    assert await outcomes(system, by_alipay.order_id) == ["APPLIED", "DUPLICATE_REPLAYED"]
    assert (await outcomes(system, by_bank.order_id))[-2:] == ["APPLIED", "DUPLICATE_REPLAYED"]
    assert (await payments(system, by_alipay.order_id), await payments(system, by_bank.order_id)) == (1, 1)


async def test_a_body_larger_than_any_notification_is_answered_413_and_stored_once_without_its_bytes(
    system: System, endpoint: str
) -> None:
    """R21b over R41: a callback too large to read is still a callback, stored once with its reason; its
    bytes are not kept, and nothing else is written."""

    async def too_large() -> list[str]:
        rows = await system.query(
            "tax",
            "SELECT detail FROM channel_notifications WHERE channel = 'WECHAT' AND outcome = 'MALFORMED'"
            " AND payload_size = 0 AND detail LIKE '%larger than%'",
        )
        return [r["detail"] for r in rows]

    before = len(await too_large())
    huge = b'{"id": "' + b"x" * (MAX_PAYLOAD_BYTES + 1) + b'"}'
    status, answer = await post(f"{endpoint}/callbacks/wechat", {"Content-Type": "application/json"}, huge)
    assert status == 413 and b'"FAIL"' in answer  # WeChat Pay's failure answer: not 2xx, its JSON
    details = await too_large()
    assert len(details) == before + 1
    assert f"Content-Length {len(huge)}" in details[-1]


async def test_two_wechat_platform_keys_live_then_the_old_one_removed_with_sighup(
    system: System, endpoint: str, keys: Path, registration: RegistrationClient, collection: CollectionClient
) -> None:
    old = channels.simulators().wechat
    new_key = pki.rsa_key()
    new = replace(old, platform_key=new_key, serial="ROTATED0000000000000000000000000000001")
    (keys / "wechat" / "platform" / f"{new.serial}.pem").write_bytes(pki.pem_public(new_key))
    await reloaded(system, lambda: system.processes["callbacks"].send_signal(signal.SIGHUP))
    first, second, third = [await pending(registration, collection) for _ in range(3)]
    url = f"{endpoint}/callbacks/wechat"
    for sim, order in ((old, first), (new, second)):
        sent = sim.build_callback(
            order.order_id, order.total_fen, f"4200rot{order.order_id[:8]}", START, sent_at=channels.now(START)
        )
        assert (await post(url, *sent))[0] == 204

    (keys / "wechat" / "platform" / f"{old.serial}.pem").unlink()
    await reloaded(system, lambda: system.processes["callbacks"].send_signal(signal.SIGHUP))
    refused = old.build_callback(third.order_id, third.total_fen, "4200rotold", START, sent_at=channels.now(START))
    assert (await post(url, *refused))[0] == 401
    assert await recorded(system, refused[1]) == ["SIGNATURE_INVALID"]
    assert (await payments(system, first.order_id), await payments(system, second.order_id)) == (1, 1)


async def reloaded(system: System, send: Callable[[], None]) -> None:
    """Sends SIGHUP and waits until the process has read its keys again (its log says so)."""
    before = system.log_text("callbacks").count('"channel_keys_loaded"')
    send()

    async def read_again() -> None:
        assert system.log_text("callbacks").count('"channel_keys_loaded"') > before

    await eventually(read_again)
