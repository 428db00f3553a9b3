"""Our merchant keys, with which the channel API clients sign their requests (R43), read from files.

A deployment mounts one directory (beside the channels' verification keys, channels/keys.py), per channel:

    wechat/mchid                    our WeChat Pay merchant id
    wechat/serial                   the serial of our merchant API certificate (Authorization's serial_no)
    wechat/apiclient_key.pem        the merchant API private key (apiclient_key.pem from WeChat Pay)
    alipay/app_id                   our Alipay app
    alipay/app_private_key.pem      the app's private key (RSA2); Alipay holds its public key
    <bank channel>/mer_id           our merchant id at that channel's gateway
    <bank channel>/signing_key.pem  our signing key there, and its certificate:
    <bank channel>/signing_cert.pem

A channel without its directory has no API client: its orders are not queried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from services.collection.channels.keys import UNIONPAY_CHANNELS, KeyConfigError, channel_directory
from services.collection.domain.model import Channel


@dataclass(frozen=True)
class WechatMerchant:
    mchid: str
    serial: str
    private_key: RSAPrivateKey


@dataclass(frozen=True)
class AlipayMerchant:
    app_id: str
    private_key: RSAPrivateKey


@dataclass(frozen=True)
class GatewayMerchant:
    mer_id: str
    private_key: RSAPrivateKey
    cert_pem: str


@dataclass(frozen=True)
class MerchantKeys:
    wechat: WechatMerchant | None = None
    alipay: AlipayMerchant | None = None
    gateways: dict[Channel, GatewayMerchant] = field(default_factory=dict)


def private_key(path: Path) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise KeyConfigError(f"{path}: not a PEM private key ({error})") from None
    if not isinstance(key, RSAPrivateKey):
        raise KeyConfigError(f"{path}: not an RSA private key")
    return key


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise KeyConfigError(f"{path}: cannot be read ({error})") from None


def load_merchant_keys(root: Path) -> MerchantKeys:
    if not root.is_dir():
        raise KeyConfigError(f"{root}: no such directory of merchant keys")
    wechat, alipay = channel_directory(root, Channel.WECHAT), channel_directory(root, Channel.ALIPAY)
    return MerchantKeys(
        wechat=WechatMerchant(
            _text(wechat / "mchid"), _text(wechat / "serial"), private_key(wechat / "apiclient_key.pem")
        )
        if wechat.is_dir()
        else None,
        alipay=AlipayMerchant(_text(alipay / "app_id"), private_key(alipay / "app_private_key.pem"))
        if alipay.is_dir()
        else None,
        gateways={
            channel: GatewayMerchant(
                _text(channel_directory(root, channel) / "mer_id"),
                private_key(channel_directory(root, channel) / "signing_key.pem"),
                _text(channel_directory(root, channel) / "signing_cert.pem") + "\n",
            )
            for channel in UNIONPAY_CHANNELS
            if channel_directory(root, channel).is_dir()
        },
    )
