"""Channel simulators (ops/channel_sim/server.py) and our clients of them, wired in-process with keys
made once per session: what the channel API tests (unit and integration) share."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ops.channel_sim import pki
from ops.channel_sim.apis import Signer
from ops.channel_sim.ledger import Faults, Ledger
from ops.channel_sim.merchant_keys import MerchantPublic
from ops.channel_sim.server import ChannelServer
from ops.channel_sim.unionpay import UnionPaySimulator
from services.collection.channels.keys import AlipayKeys, ChannelKeys, KeyStore, UnionPayKeys
from services.collection.domain.model import Channel
from services.collection.gateways.channel_apis.alipay import AlipayApi
from services.collection.gateways.channel_apis.http import Transport
from services.collection.gateways.channel_apis.merchant_keys import AlipayMerchant, GatewayMerchant, WechatMerchant
from services.collection.gateways.channel_apis.ports import ChannelApi
from services.collection.gateways.channel_apis.unionpay import UnionPayApi
from services.collection.gateways.channel_apis.wechat import WechatPayApi
from services.common.clock import Clock
from tests.unit.channel_fixtures import APP_ID, MCHID, alipay_sim, rsa, wechat_keys, wechat_sim

MERCHANT_SERIAL = "6B1C1F0E9A55B2C3D4E5F60718293A4B5C6D7E8F"
MER_ID = "777000000000001"


@dataclass
class Wired:
    server: ChannelServer
    api: ChannelApi
    transport: Transport


def _keys(family: str, unionpay: UnionPayKeys | None = None) -> KeyStore:
    if family == "wechat":
        return KeyStore(lambda: ChannelKeys(wechat=wechat_keys()))
    if family == "alipay":
        return KeyStore(lambda: ChannelKeys(alipay=AlipayKeys(apps={APP_ID: (rsa("alipay-1").public_key(),)})))
    return KeyStore(lambda: ChannelKeys(unionpay={Channel.BANK_APP: unionpay} if unionpay else {}))


def _unionpay(now: dt.datetime) -> tuple[UnionPaySimulator, UnionPayKeys, GatewayMerchant]:
    (root, _), (middle, _), (leaf, leaf_key) = pki.gateway_chain("bank_app", "medins-sim-bank_app", now=now)
    sim = UnionPaySimulator(MER_ID, leaf_key, pki.pem_certificate(leaf).decode())
    keys = UnionPayKeys(mer_id=MER_ID, roots=(root,), intermediates=(middle,), signer="medins-sim-bank_app")
    cert, key = pki.certificate("merchant bank_app", None, ca=False, now=now, key=rsa("merchant-unionpay"))
    return sim, keys, GatewayMerchant(MER_ID, key, pki.pem_certificate(cert).decode())


@asynccontextmanager
async def wired(
    family: str,
    clock: Clock,
    callback_url: str = "http://127.0.0.1:9/none",
    *,
    faults: Faults | None = None,
    time_scale: float = 0.001,
    merchant_key: str = "merchant",
    timeout_seconds: float = 5.0,
) -> AsyncIterator[Wired]:
    """A started simulator of `family` and our client of it; stopped afterwards."""
    transport = Transport(timeout_seconds)
    unionpay_keys = None
    if family == "wechat":
        signer = Signer(family, wechat=wechat_sim())
        public = MerchantPublic(MCHID, {MERCHANT_SERIAL: rsa("merchant").public_key()})
    elif family == "alipay":
        signer = Signer(family, alipay=alipay_sim())
        public = MerchantPublic(APP_ID, {"app": rsa("merchant").public_key()})
    else:
        sim, unionpay_keys, gateway_merchant = _unionpay(clock.now())
        signer = Signer(family, unionpay=sim)
        public = MerchantPublic(MER_ID, {"cert": rsa("merchant-unionpay").public_key()})
    server = ChannelServer(
        family, signer, public, callback_url, clock=clock, faults=faults, time_scale=time_scale, ledger=Ledger(7)
    )
    await server.start()
    keys = _keys(family, unionpay_keys)
    api: ChannelApi
    if family == "wechat":
        merchant = WechatMerchant(MCHID, MERCHANT_SERIAL, rsa(merchant_key))
        api = WechatPayApi(server.url, merchant, keys, clock, transport)
    elif family == "alipay":
        api = AlipayApi(server.url + "/gateway.do", AlipayMerchant(APP_ID, rsa(merchant_key)), keys, clock, transport)
    else:
        api = UnionPayApi(server.url, {Channel.BANK_APP: gateway_merchant}, keys, clock, transport)
    try:
        yield Wired(server, api, transport)
    finally:
        await transport.close()
        await server.stop()
