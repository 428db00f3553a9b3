"""Development merchant keys (ours, with which we sign requests to the channels' APIs, R43) and their
public halves, which the simulators check requests with.

    python -m ops.channel_sim.merchant_keys [--dir .make/channel-keys]

Writes <dir>/merchant/ in the layout services/collection/gateways/channel_apis/merchant_keys.py reads
(point the payment query and refund workers at it) and <dir>/sim/<channel>/merchant/ (public keys only).
Existing files are kept. For a developer's machine and the tests only: a deployment's merchant keys come
from the channels' merchant platforms (WeChat Pay's apiclient_key.pem, the Alipay app key, the bank's
signing certificate)."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ops.channel_sim import pki
from ops.channel_sim.dev_keys import ALIPAY_APP_ID, DEFAULT_DIR, WECHAT_MCHID, _write
from services.collection.channels.keys import UNIONPAY_CHANNELS, channel_directory, rsa_public_key
from services.collection.domain.model import Channel


def ensure_merchant_keys(root: Path = DEFAULT_DIR) -> None:
    merchant, sim = root / "merchant", root / "sim"
    wechat = channel_directory(merchant, Channel.WECHAT)
    if not wechat.exists():
        key, serial = pki.rsa_key(), secrets.token_hex(20).upper()
        _write(wechat / "apiclient_key.pem", pki.pem_private(key), secret=True)
        _write(wechat / "serial", serial)
        _write(wechat / "mchid", WECHAT_MCHID)
        _write(channel_directory(sim, Channel.WECHAT) / "merchant" / f"{serial}.pem", pki.pem_public(key))
    alipay = channel_directory(merchant, Channel.ALIPAY)
    if not alipay.exists():
        key = pki.rsa_key()
        _write(alipay / "app_private_key.pem", pki.pem_private(key), secret=True)
        _write(alipay / "app_id", ALIPAY_APP_ID)
        _write(channel_directory(sim, Channel.ALIPAY) / "merchant" / "app_public_key.pem", pki.pem_public(key))
    for channel in UNIONPAY_CHANNELS:
        held = channel_directory(merchant, channel)
        mer_id_file = channel_directory(sim, channel) / "mer_id"
        if held.exists() or not mer_id_file.exists():
            continue
        cert, key = pki.certificate(f"merchant {channel.value.lower()}", None, ca=False)
        _write(held / "signing_key.pem", pki.pem_private(key), secret=True)
        _write(held / "signing_cert.pem", pki.pem_certificate(cert))
        _write(held / "mer_id", mer_id_file.read_text().strip())
        _write(channel_directory(sim, channel) / "merchant" / "cert.pem", pki.pem_certificate(cert))


@dataclass(frozen=True)
class MerchantPublic:
    """What a simulator checks our requests with."""

    merchant_id: str  # mchid, app_id or merId
    keys: dict[str, RSAPublicKey]  # by serial (WeChat), or one entry


def load_merchant_public(root: Path, channel: Channel) -> MerchantPublic:
    sim = channel_directory(root / "sim", channel)
    keys = {p.stem: rsa_public_key(p.read_bytes(), str(p)) for p in sorted((sim / "merchant").glob("*.pem"))}
    names = {Channel.WECHAT: "mchid", Channel.ALIPAY: "app_id"}
    return MerchantPublic((sim / names.get(channel, "mer_id")).read_text().strip(), keys)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    ensure_merchant_keys(args.dir)
    sys.stdout.write(f"merchant keys in {args.dir / 'merchant'}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
