"""Each channel's own verification keys (R42), read from files: no secret is shared between channels.

A deployment mounts one directory (a Kubernetes secret, or `python -m ops.channel_sim.dev_keys` on a
developer's machine) laid out per channel, the channel's name in lower case:

    wechat/mchid                        our WeChat Pay merchant id (the resource's mchid is checked)
    wechat/apiv3_key                    the 32-character APIv3 key the resource is encrypted under
    wechat/platform/<serial>.pem        a WeChat Pay platform certificate or public key, named by the
                                        serial WeChat Pay sends in Wechatpay-Serial; several live at once
    alipay/<app_id>/<name>.pem          Alipay's public key(s) (or certificates) for our app <app_id>
    <bank channel>/mer_id               the merchant id the gateway's notifications must carry
    <bank channel>/roots/*.pem          the root certificate(s) a signing certificate must chain to
    <bank channel>/intermediates/*.pem  the intermediate certificate(s) between them
    <bank channel>/signer               optional: the signer named in the certificate's CN (third
                                        '@' field); UnionPay's is 中国银联股份有限公司
    e_tax/keys/<key_id>.key             our own format's HMAC keys (at least 32 bytes), by key id
    family_mutual_aid/keys/<key_id>.key

<bank channel> is bank_app, bank_counter, atm, pos, social_security_card or agreement_deduction: each
has its own merchant id and trust anchors, so one channel's key never signs for another. A channel
without its directory is not configured and every notification of it is refused.

Rotation without downtime: put the new key beside the old one, `KeyStore.reload()` (both verify),
and once the channel signs with the new one only, remove the old file and reload again. A reload that
fails (a broken file) keeps the keys in use and raises, naming the file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from services.collection.domain.model import Channel

UNIONPAY_SIGNER = "中国银联股份有限公司"
UNIONPAY_CHANNELS = (
    Channel.BANK_APP,
    Channel.BANK_COUNTER,
    Channel.ATM,
    Channel.POS,
    Channel.SOCIAL_SECURITY_CARD,
    Channel.AGREEMENT_DEDUCTION,
)
OWN_FORMAT_CHANNELS = (Channel.E_TAX, Channel.FAMILY_MUTUAL_AID)
APIV3_KEY_BYTES = 32
MIN_RSA_BITS = 2048
MIN_OWN_KEY_BYTES = 32


class KeyConfigError(ValueError):
    """A key file that cannot be used, named."""


@dataclass(frozen=True)
class WechatPayKeys:
    mchid: str
    apiv3_key: bytes
    platform_keys: Mapping[str, RSAPublicKey]  # by Wechatpay-Serial


@dataclass(frozen=True)
class AlipayKeys:
    apps: Mapping[str, tuple[RSAPublicKey, ...]]  # by app_id: Alipay's public keys live for it


@dataclass(frozen=True)
class UnionPayKeys:
    mer_id: str
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    signer: str = UNIONPAY_SIGNER


@dataclass(frozen=True)
class OwnFormatKeys:
    keys: Mapping[str, bytes]  # by key id


@dataclass(frozen=True)
class ChannelKeys:
    wechat: WechatPayKeys | None = None
    alipay: AlipayKeys | None = None
    unionpay: Mapping[Channel, UnionPayKeys] = field(default_factory=dict)
    own: Mapping[Channel, OwnFormatKeys] = field(default_factory=dict)


def rsa_public_key(pem: bytes, name: str) -> RSAPublicKey:
    """An RSA public key of at least 2048 bits from a PEM public key or certificate."""
    try:
        key = (
            x509.load_pem_x509_certificate(pem).public_key()
            if b"BEGIN CERTIFICATE" in pem
            else serialization.load_pem_public_key(pem)
        )
    except ValueError as error:
        raise KeyConfigError(f"{name}: not a PEM public key or certificate ({error})") from None
    if not isinstance(key, RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise KeyConfigError(f"{name}: not an RSA key of at least {MIN_RSA_BITS} bits")
    return key


def certificates(directory: Path) -> tuple[x509.Certificate, ...]:
    found = []
    for path in sorted(directory.glob("*.pem")):
        try:
            found.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except ValueError as error:
            raise KeyConfigError(f"{path}: not a PEM certificate ({error})") from None
    return tuple(found)


def _text(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise KeyConfigError(f"{path}: cannot be read ({error})") from None
    if not value:
        raise KeyConfigError(f"{path}: is empty")
    return value


def _wechat(directory: Path) -> WechatPayKeys:
    apiv3_key = _text(directory / "apiv3_key").encode()
    if len(apiv3_key) != APIV3_KEY_BYTES:
        raise KeyConfigError(f"{directory / 'apiv3_key'}: the APIv3 key must be {APIV3_KEY_BYTES} bytes")
    platform = {p.stem: rsa_public_key(p.read_bytes(), str(p)) for p in sorted((directory / "platform").glob("*.pem"))}
    return WechatPayKeys(mchid=_text(directory / "mchid"), apiv3_key=apiv3_key, platform_keys=platform)


def _alipay(directory: Path) -> AlipayKeys:
    apps = {
        app.name: tuple(rsa_public_key(p.read_bytes(), str(p)) for p in sorted(app.glob("*.pem")))
        for app in sorted(directory.iterdir())
        if app.is_dir()
    }
    return AlipayKeys(apps={app_id: keys for app_id, keys in apps.items() if keys})


def _unionpay(directory: Path) -> UnionPayKeys:
    roots = certificates(directory / "roots")
    if not roots:
        raise KeyConfigError(f"{directory / 'roots'}: no root certificate")
    signer_file = directory / "signer"
    return UnionPayKeys(
        mer_id=_text(directory / "mer_id"),
        roots=roots,
        intermediates=certificates(directory / "intermediates"),
        signer=_text(signer_file) if signer_file.exists() else UNIONPAY_SIGNER,
    )


def _own(directory: Path) -> OwnFormatKeys:
    keys = {}
    for path in sorted((directory / "keys").glob("*.key")):
        secret = path.read_bytes().strip()
        if len(secret) < MIN_OWN_KEY_BYTES:
            raise KeyConfigError(f"{path}: a key must have at least {MIN_OWN_KEY_BYTES} bytes")
        keys[path.stem] = secret
    return OwnFormatKeys(keys=keys)


def channel_directory(root: Path, channel: Channel) -> Path:
    return root / channel.value.lower()


def load_channel_keys(root: Path) -> ChannelKeys:
    """Every configured channel's keys under `root` (see the module's docstring for the layout)."""
    if not root.is_dir():
        raise KeyConfigError(f"{root}: no such directory of channel keys")
    wechat_dir = channel_directory(root, Channel.WECHAT)
    alipay_dir = channel_directory(root, Channel.ALIPAY)
    return ChannelKeys(
        wechat=_wechat(wechat_dir) if wechat_dir.is_dir() else None,
        alipay=_alipay(alipay_dir) if alipay_dir.is_dir() else None,
        unionpay={
            channel: _unionpay(channel_directory(root, channel))
            for channel in UNIONPAY_CHANNELS
            if channel_directory(root, channel).is_dir()
        },
        own={
            channel: _own(channel_directory(root, channel))
            for channel in OWN_FORMAT_CHANNELS
            if channel_directory(root, channel).is_dir()
        },
    )


class KeyStore:
    """The keys in use, replaced whole by `reload` (readers see the old set or the new one, never a
    mixture); a reload that fails keeps the old set."""

    def __init__(self, loader: Callable[[], ChannelKeys]) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._keys = loader()

    @classmethod
    def from_directory(cls, root: Path) -> KeyStore:
        return cls(lambda: load_channel_keys(root))

    def current(self) -> ChannelKeys:
        return self._keys

    def reload(self) -> ChannelKeys:
        with self._lock:
            self._keys = self._loader()
            return self._keys
