"""Development keys of the channel simulators, and the verification keys the collection service reads.

    python -m ops.channel_sim.dev_keys [--dir .make/channel-keys]

Writes <dir>/sim/<channel>/ (what each simulator holds: private keys, its certificate, ids) and
<dir>/verify/ in the layout services/collection/channels/keys.py reads (public keys, roots and
intermediates, merchant ids, our own format's keys): point the service at <dir>/verify. Like
`make certs` (ops/certs.py), existing files are kept: a key made again would invalidate what was issued
under it. Every channel gets keys of its own; each bank channel its own root, intermediate and signer.
For a developer's machine and the tests only; a deployment's keys come from the channels.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ops.channel_sim import pki
from ops.channel_sim.alipay import AlipaySimulator
from ops.channel_sim.own import OwnFormatSimulator
from ops.channel_sim.unionpay import UnionPaySimulator
from ops.channel_sim.wechat import WechatPaySimulator
from services.collection.channels.keys import OWN_FORMAT_CHANNELS, UNIONPAY_CHANNELS, channel_directory
from services.collection.domain.model import Channel
from services.common.settings import load_settings

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".make" / "channel-keys"
WECHAT_MCHID, WECHAT_APPID = "1900000109", "wxd678efh567hg6787"
ALIPAY_APP_ID = "2021000000000001"
# The development gateways' certificates are valid whatever a test's clock says (2000 to 2100): the
# tests move the system's clock freely; a deployment's certificates are the channels' own.
DEV_VALID_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DEV_VALID_DAYS = 36_500


def dev_signer(channel: Channel) -> str:
    """The signer a bank channel's development certificate names (the real gateway's is UnionPay's)."""
    return f"medins-sim-{channel.value.lower()}"


def _write(path: Path, data: bytes | str, *, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if secret:
        os.chmod(path, 0o600)


def _wechat(sim: Path, verify: Path) -> None:
    key, serial = pki.rsa_key(), secrets.token_hex(20).upper()
    apiv3_key = secrets.token_urlsafe(24)[:32]
    _write(sim / "platform_key.pem", pki.pem_private(key), secret=True)
    _write(sim / "apiv3_key", apiv3_key, secret=True)
    for name, value in (("serial", serial), ("mchid", WECHAT_MCHID), ("appid", WECHAT_APPID)):
        _write(sim / name, value)
    _write(verify / "mchid", WECHAT_MCHID)
    _write(verify / "apiv3_key", apiv3_key, secret=True)
    _write(verify / "platform" / f"{serial}.pem", pki.pem_public(key))


def _alipay(sim: Path, verify: Path) -> None:
    key = pki.rsa_key()
    _write(sim / "private_key.pem", pki.pem_private(key), secret=True)
    _write(sim / "app_id", ALIPAY_APP_ID)
    _write(verify / ALIPAY_APP_ID / "alipay_public_key.pem", pki.pem_public(key))


def _unionpay(channel: Channel, sim: Path, verify: Path) -> None:
    mer_id = f"7770000{list(UNIONPAY_CHANNELS).index(channel):08d}"
    (root, _), (middle, _), (leaf, leaf_key) = pki.gateway_chain(
        channel.value.lower(), dev_signer(channel), now=DEV_VALID_FROM, days=DEV_VALID_DAYS
    )
    _write(sim / "signing_key.pem", pki.pem_private(leaf_key), secret=True)
    _write(sim / "signing_cert.pem", pki.pem_certificate(leaf))
    _write(sim / "mer_id", mer_id)
    _write(verify / "mer_id", mer_id)
    _write(verify / "signer", dev_signer(channel))
    _write(verify / "roots" / "root.pem", pki.pem_certificate(root))
    _write(verify / "intermediates" / "intermediate.pem", pki.pem_certificate(middle))


def _own(sim: Path, verify: Path) -> None:
    key_id, key = "dev-1", secrets.token_hex(32)
    _write(sim / "key_id", key_id)
    _write(sim / "key", key, secret=True)
    _write(verify / "keys" / f"{key_id}.key", key, secret=True)


def ensure_dev_keys(root: Path = DEFAULT_DIR) -> list[Channel]:
    """Makes the keys of every channel that has none under `root`; the channels made."""
    made = []
    sim, verify = root / "sim", root / "verify"
    verify.mkdir(parents=True, exist_ok=True)
    for channel in (Channel.WECHAT, Channel.ALIPAY, *UNIONPAY_CHANNELS, *OWN_FORMAT_CHANNELS):
        held, read = channel_directory(sim, channel), channel_directory(verify, channel)
        if held.exists():
            continue
        if channel is Channel.WECHAT:
            _wechat(held, read)
        elif channel is Channel.ALIPAY:
            _alipay(held, read)
        elif channel in UNIONPAY_CHANNELS:
            _unionpay(channel, held, read)
        else:
            _own(held, read)
        made.append(channel)
    return made


@dataclass(frozen=True)
class Simulators:
    wechat: WechatPaySimulator
    alipay: AlipaySimulator
    unionpay: dict[Channel, UnionPaySimulator]
    own: dict[Channel, OwnFormatSimulator]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def configured_root() -> Path:
    """The simulators' keys that match the services' verify/ directory (MEDINS_CHANNEL_KEYS_DIR, by
    default this directory's verify/): its parent, as ensure_dev_keys lays them out."""
    return load_settings().channel_keys_path.parent


def load_simulators(root: Path = DEFAULT_DIR) -> Simulators:
    """The simulators of the keys under `root` (made by ensure_dev_keys)."""
    sim = root / "sim"
    wechat, alipay = channel_directory(sim, Channel.WECHAT), channel_directory(sim, Channel.ALIPAY)
    return Simulators(
        wechat=WechatPaySimulator(
            mchid=_read(wechat / "mchid"),
            appid=_read(wechat / "appid"),
            apiv3_key=_read(wechat / "apiv3_key").encode(),
            platform_key=pki.load_private((wechat / "platform_key.pem").read_bytes()),
            serial=_read(wechat / "serial"),
        ),
        alipay=AlipaySimulator(
            app_id=_read(alipay / "app_id"), private_key=pki.load_private((alipay / "private_key.pem").read_bytes())
        ),
        unionpay={
            channel: UnionPaySimulator(
                mer_id=_read(channel_directory(sim, channel) / "mer_id"),
                signing_key=pki.load_private((channel_directory(sim, channel) / "signing_key.pem").read_bytes()),
                signing_cert_pem=_read(channel_directory(sim, channel) / "signing_cert.pem") + "\n",
            )
            for channel in UNIONPAY_CHANNELS
        },
        own={
            channel: OwnFormatSimulator(
                key_id=_read(channel_directory(sim, channel) / "key_id"),
                key=_read(channel_directory(sim, channel) / "key").encode(),
            )
            for channel in OWN_FORMAT_CHANNELS
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    made = ensure_dev_keys(args.dir)
    names = ", ".join(c.value.lower() for c in made) or "none (all present)"
    sys.stdout.write(f"channel keys in {args.dir}: made {names}; the service reads {args.dir / 'verify'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
