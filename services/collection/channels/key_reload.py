"""The channels' keys of a process (R42): read from the configured directory at start, read again on
SIGHUP, so a key is rotated without downtime (put the new key beside the old, `kill -HUP`; later remove
the old and `kill -HUP` again). A reload that fails keeps the keys in use and says why."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog

from services.collection.channels.keys import ChannelKeys, KeyConfigError, KeyStore, load_channel_keys
from services.common.settings import Settings

log = structlog.get_logger(__name__)


def channel_key_store(settings: Settings) -> KeyStore:
    """The keys under settings.channel_keys_path. Without that directory a developer's process still
    starts (and refuses every notification, recorded, until `make channel-keys`); production needs it."""
    if settings.environment == "production" and not settings.channel_keys_dir:
        raise SystemExit("production mode needs the channels' keys: set MEDINS_CHANNEL_KEYS_DIR (docs/DEPLOY.md)")
    root = settings.channel_keys_path
    return KeyStore(lambda: _load(root, required=bool(settings.channel_keys_dir)))


def _load(root: Path, *, required: bool) -> ChannelKeys:
    if not root.is_dir() and not required:
        log.warning("channel_keys_missing", directory=str(root), hint="make channel-keys")
        return ChannelKeys()
    keys = load_channel_keys(root)
    log.info(
        "channel_keys_loaded",
        directory=str(root),
        wechat_serials=sorted(keys.wechat.platform_keys) if keys.wechat else [],
        alipay_apps=sorted(keys.alipay.apps) if keys.alipay else [],
        unionpay=sorted(c.value for c in keys.unionpay),
        own=sorted(c.value for c in keys.own),
    )
    return keys


def reload(store: KeyStore) -> None:
    try:
        store.reload()
    except (KeyConfigError, OSError) as error:
        log.error("channel_keys_reload_failed", error=str(error))


async def reload_on_sighup(store: KeyStore, stop: asyncio.Event) -> None:
    """Reloads `store` on every SIGHUP until `stop` is set."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload, store)
    try:
        await stop.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
