"""R42: every channel's keys are its own, read from configuration, several live at once and rotated
without downtime; a key of one channel never signs for another."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

from ops.channel_sim import dev_keys, pki
from ops.channel_sim.dev_keys import Simulators, ensure_dev_keys, load_simulators
from services.collection.channels.keys import (
    UNIONPAY_CHANNELS,
    KeyConfigError,
    KeyStore,
    channel_directory,
    load_channel_keys,
)
from services.collection.channels.verifiers import ChannelVerifiers, OwnFormatSignatures
from services.collection.domain.model import Channel
from services.common.clock import CST, FixedClock
from services.common.errors import InvalidArgument, Unauthenticated
from tests.unit.channel_fixtures import rsa

NOW = dt.datetime.now(CST).replace(microsecond=0)  # the dev certificates are valid from when they are made
HOLDER = "110101199003077777"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("channel-keys")
    ensure_dev_keys(root)
    return root


@pytest.fixture
def root(made: Path, tmp_path: Path) -> Path:
    """A copy of the development keys this test may change."""
    shutil.copytree(made, tmp_path / "keys")
    return tmp_path / "keys"


def sims(root: Path) -> Simulators:
    return load_simulators(root)


def verifiers(root: Path) -> tuple[ChannelVerifiers, KeyStore]:
    store = KeyStore.from_directory(root / "verify")
    return ChannelVerifiers(store, FixedClock(NOW)), store


def pay(sim: object, number: int = 1) -> tuple[dict[str, str], bytes]:
    return sim.build_callback(f"o{number:08d}", 38000, f"t{number:020d}", NOW)  # type: ignore[attr-defined, no-any-return]


def test_every_notifying_channel_verifies_its_own_simulators_callback(root: Path) -> None:
    simulators, (checker, _) = sims(root), verifiers(root)
    own = {**simulators.own}
    own[Channel.FAMILY_MUTUAL_AID] = dataclasses.replace(own[Channel.FAMILY_MUTUAL_AID], holder_id_number=HOLDER)
    by_channel = {Channel.WECHAT: simulators.wechat, Channel.ALIPAY: simulators.alipay, **simulators.unionpay, **own}
    for number, (channel, sim) in enumerate(by_channel.items()):
        payment = checker.verify(channel, *pay(sim, number))
        assert (payment.channel, payment.order_id, payment.amount_fen) == (channel, f"o{number:08d}", 38000)
    assert len(by_channel) == 10


def test_a_key_of_one_channel_cannot_sign_for_another(root: Path) -> None:
    simulators, (checker, _) = sims(root), verifiers(root)
    crossings = [
        (Channel.E_TAX, simulators.own[Channel.FAMILY_MUTUAL_AID]),
        (Channel.FAMILY_MUTUAL_AID, simulators.own[Channel.E_TAX]),
        *((Channel.ATM, simulators.unionpay[other]) for other in UNIONPAY_CHANNELS if other is not Channel.ATM),
        (Channel.BANK_APP, simulators.unionpay[Channel.POS]),
    ]
    for channel, sim in crossings:
        with pytest.raises(Unauthenticated) as caught:
            checker.verify(channel, *pay(sim))
        assert caught.value.reason in ("SIGNATURE_INVALID", "CERTIFICATE_UNTRUSTED"), (channel, caught.value.reason)


def test_alipays_key_cannot_sign_as_wechat_pay_nor_wechat_pays_as_alipay(root: Path) -> None:
    simulators, (checker, _) = sims(root), verifiers(root)
    as_wechat = dataclasses.replace(simulators.wechat, platform_key=simulators.alipay.private_key)
    as_alipay = dataclasses.replace(simulators.alipay, private_key=simulators.wechat.platform_key)
    for channel, sim in ((Channel.WECHAT, as_wechat), (Channel.ALIPAY, as_alipay)):
        with pytest.raises(Unauthenticated) as caught:
            checker.verify(channel, *pay(sim))
        assert caught.value.reason == "SIGNATURE_INVALID"


def test_no_two_channels_share_a_secret(root: Path) -> None:
    keys = load_channel_keys(root / "verify")
    secrets = [keys.wechat.apiv3_key] if keys.wechat else []
    secrets += [key for own in keys.own.values() for key in own.keys.values()]
    roots = [u.roots[0].fingerprint(hashes.SHA256()) for u in keys.unionpay.values()]
    assert len(set(secrets)) == len(secrets) == 3
    assert len(set(roots)) == len(roots) == 6


def test_two_wechat_platform_keys_live_both_verify_and_the_old_one_removed_is_refused(root: Path) -> None:
    simulators, (checker, store) = sims(root), verifiers(root)
    old = simulators.wechat
    new = dataclasses.replace(old, platform_key=rsa("wechat-rotated"), serial="ROTATED0000000000000000000000000001")
    platform = channel_directory(root / "verify", Channel.WECHAT) / "platform"
    (platform / f"{new.serial}.pem").write_bytes(pki.pem_public(new.platform_key))
    store.reload()
    assert checker.verify(Channel.WECHAT, *pay(old, 1)).order_id == "o00000001"
    assert checker.verify(Channel.WECHAT, *pay(new, 2)).order_id == "o00000002"
    (platform / f"{old.serial}.pem").unlink()
    store.reload()
    assert checker.verify(Channel.WECHAT, *pay(new, 3)).order_id == "o00000003"
    with pytest.raises(Unauthenticated) as caught:
        checker.verify(Channel.WECHAT, *pay(old, 4))
    assert caught.value.reason == "SIGNATURE_INVALID" and old.serial in caught.value.metadata["why"]


def test_a_reload_that_fails_keeps_the_keys_in_use_and_names_the_file(root: Path) -> None:
    simulators, (checker, store) = sims(root), verifiers(root)
    broken = channel_directory(root / "verify", Channel.WECHAT) / "platform" / "BROKEN.pem"
    broken.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyConfigError, match=r"BROKEN\.pem"):
        store.reload()
    assert checker.verify(Channel.WECHAT, *pay(simulators.wechat)).amount_fen == 38000


def test_an_own_format_key_rotates_by_key_id(root: Path) -> None:
    simulators, (checker, store) = sims(root), verifiers(root)
    old = simulators.own[Channel.E_TAX]
    new = dataclasses.replace(old, key_id="dev-2", key=b"n" * 40)
    keys_dir = channel_directory(root / "verify", Channel.E_TAX) / "keys"
    (keys_dir / "dev-2.key").write_bytes(new.key)
    store.reload()
    for sim in (old, new):
        assert checker.verify(Channel.E_TAX, *pay(sim)).amount_fen == 38000
    (keys_dir / f"{old.key_id}.key").unlink()
    store.reload()
    with pytest.raises(Unauthenticated):
        checker.verify(Channel.E_TAX, *pay(old))


@pytest.mark.parametrize(
    ("path", "content", "problem"),
    [
        ("wechat/apiv3_key", "too-short", "32 bytes"),
        ("e_tax/keys/dev-1.key", "short", "at least 32"),
        ("bank_app/mer_id", "", "empty"),
    ],
)
def test_a_key_file_that_cannot_be_used_is_refused_naming_it(root: Path, path: str, content: str, problem: str) -> None:
    (root / "verify" / path).write_text(content)
    with pytest.raises(KeyConfigError, match=problem):
        load_channel_keys(root / "verify")


def test_a_weak_rsa_key_is_refused(root: Path) -> None:
    weak = rsa_keys.generate_private_key(public_exponent=65537, key_size=1024)
    path = root / "verify" / "alipay" / dev_keys.ALIPAY_APP_ID / "weak.pem"
    path.write_bytes(pki.pem_public(weak))
    with pytest.raises(KeyConfigError, match="2048"):
        load_channel_keys(root / "verify")


def test_a_channel_without_keys_refuses_everything(root: Path) -> None:
    simulators = sims(root)
    shutil.rmtree(channel_directory(root / "verify", Channel.POS))
    checker, _ = verifiers(root)
    with pytest.raises(Unauthenticated):
        checker.verify(Channel.POS, *pay(simulators.unionpay[Channel.POS]))


def test_the_subsidy_sends_no_notifications_and_an_oversized_body_is_malformed(root: Path) -> None:
    checker, _ = verifiers(root)
    with pytest.raises(InvalidArgument) as caught:
        checker.verify(Channel.SUBSIDY, {}, b"{}")
    assert caught.value.reason == "CHANNEL_NOT_NOTIFIABLE"
    with pytest.raises(InvalidArgument) as caught:
        checker.verify(Channel.ALIPAY, {}, b"a=" + b"x" * 70_000)
    assert caught.value.reason == "MALFORMED_NOTIFICATION"


def test_the_dev_keys_are_kept_when_made_again(made: Path) -> None:
    before = (made / "sim" / "wechat" / "platform_key.pem").read_bytes()
    assert ensure_dev_keys(made) == []
    assert (made / "sim" / "wechat" / "platform_key.pem").read_bytes() == before


def test_the_signature_verifier_of_today_checks_e_tax_and_family_under_their_own_keys(root: Path) -> None:
    simulators = sims(root)
    legacy = OwnFormatSignatures(KeyStore.from_directory(root / "verify"))
    headers, body = pay(simulators.own[Channel.E_TAX])
    assert legacy.verify(Channel.E_TAX, body, headers["Medins-Signature"])
    assert not legacy.verify(Channel.FAMILY_MUTUAL_AID, body, headers["Medins-Signature"])
    assert not legacy.verify(Channel.E_TAX, body + b" ", headers["Medins-Signature"])
    assert not legacy.verify(Channel.WECHAT, body, headers["Medins-Signature"])
