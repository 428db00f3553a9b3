"""Keys and simulators for the channel verification tests (R42), made once per test session: RSA keys
take a while to generate."""

from __future__ import annotations

import datetime as dt
import functools

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ops.channel_sim import pki
from ops.channel_sim.alipay import AlipaySimulator
from ops.channel_sim.unionpay import UnionPaySimulator
from ops.channel_sim.wechat import WechatPaySimulator
from services.collection.channels.keys import AlipayKeys, UnionPayKeys, WechatPayKeys
from services.collection.domain.model import Channel
from services.common.clock import CST

NOW = dt.datetime(2026, 12, 3, 10, 30, 0, tzinfo=CST)
PAID_AT = NOW - dt.timedelta(seconds=20)
MCHID, APPID, APIV3_KEY, SERIAL = (
    "1900000109",
    "wxd678efh567hg6787",
    b"0123456789abcdef0123456789abcdef",
    "5157F09EFDC096DE15EBE81A47057A72",
)
APP_ID = "2021000000000001"


@functools.cache
def rsa(name: str) -> RSAPrivateKey:
    """A key per name, the same for the whole session."""
    del name
    return pki.rsa_key()


def wechat_sim(key: str = "platform-1", serial: str = SERIAL, **changes: object) -> WechatPaySimulator:
    fields: dict[str, object] = {
        "mchid": MCHID,
        "appid": APPID,
        "apiv3_key": APIV3_KEY,
        "platform_key": rsa(key),
        "serial": serial,
    }
    fields.update(changes)
    return WechatPaySimulator(**fields)  # type: ignore[arg-type]


def wechat_keys(*live: tuple[str, str]) -> WechatPayKeys:
    """WeChat Pay keys with the platform keys `live` as (serial, key name)."""
    live = live or ((SERIAL, "platform-1"),)
    return WechatPayKeys(
        mchid=MCHID, apiv3_key=APIV3_KEY, platform_keys={serial: rsa(name).public_key() for serial, name in live}
    )


def alipay_sim(key: str = "alipay-1", app_id: str = APP_ID) -> AlipaySimulator:
    return AlipaySimulator(app_id=app_id, private_key=rsa(key))


def alipay_keys(*names: str) -> AlipayKeys:
    return AlipayKeys(apps={APP_ID: tuple(rsa(name).public_key() for name in names or ("alipay-1",))})


@functools.cache
def gateway(channel: Channel) -> tuple[pki.Issued, pki.Issued, pki.Issued]:
    """Root, intermediate and signing certificate of `channel`'s gateway (its own for every channel)."""
    return pki.gateway_chain(channel.value.lower(), f"signer-{channel.value.lower()}", now=NOW - dt.timedelta(days=1))


def mer_id(channel: Channel) -> str:
    return f"777{list(Channel).index(channel):012d}"


def unionpay_keys(channel: Channel) -> UnionPayKeys:
    (root, _), (middle, _), _ = gateway(channel)
    return UnionPayKeys(
        mer_id=mer_id(channel), roots=(root,), intermediates=(middle,), signer=f"signer-{channel.value.lower()}"
    )


def unionpay_sim(channel: Channel, **changes: object) -> UnionPaySimulator:
    _, _, (leaf, leaf_key) = gateway(channel)
    fields: dict[str, object] = {
        "mer_id": mer_id(channel),
        "signing_key": leaf_key,
        "signing_cert_pem": pki.pem_certificate(leaf).decode(),
    }
    fields.update(changes)
    return UnionPaySimulator(**fields)  # type: ignore[arg-type]
