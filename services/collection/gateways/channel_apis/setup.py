"""The channel API clients of a process, from its configuration (keys directories and base URLs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.collection.channels.key_reload import channel_key_store
from services.collection.channels.keys import KeyStore
from services.collection.gateways.channel_apis.alipay import AlipayApi
from services.collection.gateways.channel_apis.http import Transport
from services.collection.gateways.channel_apis.merchant_keys import load_merchant_keys
from services.collection.gateways.channel_apis.ports import ChannelApi
from services.collection.gateways.channel_apis.unionpay import UnionPayApi
from services.collection.gateways.channel_apis.wechat import WechatPayApi
from services.common.clock import Clock
from services.common.settings import Settings


class ChannelApiSettings(BaseSettings):
    """MEDINS_CHANNEL_API_*: where our merchant keys are (merchant_keys.py layout), and each family's
    base URL. Unset: no channel API. The channels' answers are verified with the keys every process that
    believes channels reads (MEDINS_CHANNEL_KEYS_DIR, channels/key_reload.py): one directory, not two."""

    model_config = SettingsConfigDict(env_prefix="MEDINS_CHANNEL_API_", frozen=True)

    merchant_keys_dir: str = ""
    wechat_url: str = ""
    alipay_url: str = ""
    unionpay_url: str = ""
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ChannelApiUrls:
    """Base URLs: https://api.mch.weixin.qq.com, https://openapi.alipay.com/gateway.do and
    https://gateway.95516.com in production; a simulator's (ops/channel_sim/server.py) in development.
    An empty URL leaves that family without a client."""

    wechat: str = ""
    alipay: str = ""
    unionpay: str = ""


def configured_apis(settings: ChannelApiSettings, process: Settings, clock: Clock) -> list[ChannelApi]:
    """The clients `settings` configure (none when the merchant keys are not set), verifying with the
    channels' keys of `process`."""
    if not settings.merchant_keys_dir:
        return []
    urls = ChannelApiUrls(settings.wechat_url, settings.alipay_url, settings.unionpay_url)
    keys = channel_key_store(process)
    return channel_apis(keys, Path(settings.merchant_keys_dir), urls, clock, Transport(settings.timeout_seconds))


def channel_apis(
    channel_keys: KeyStore, merchant_dir: Path, urls: ChannelApiUrls, clock: Clock, transport: Transport
) -> list[ChannelApi]:
    merchant = load_merchant_keys(merchant_dir)
    apis: list[ChannelApi] = []
    if urls.wechat and merchant.wechat:
        apis.append(WechatPayApi(urls.wechat, merchant.wechat, channel_keys, clock, transport))
    if urls.alipay and merchant.alipay:
        apis.append(AlipayApi(urls.alipay, merchant.alipay, channel_keys, clock, transport))
    if urls.unionpay and merchant.gateways:
        apis.append(UnionPayApi(urls.unionpay, merchant.gateways, channel_keys, clock, transport))
    return apis
