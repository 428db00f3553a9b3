"""Composition root of the channels' HTTPS callback endpoint (R44): python -m services.collection.callbacks.

Listens on listen_host:callbacks_port over TLS with server/callbacks.{pem,key} of the callbacks' TLS
directory (settings.callbacks_tls_path; `make certs` on a developer's machine, plain HTTP there only
when there is none); verifies with the channels' keys (settings.channel_keys_path), re-read on SIGHUP."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

import structlog
from aiohttp import web

from services.collection.callbacks.app import Intake, make_app, networks
from services.collection.channels.key_reload import channel_key_store, reload_on_sighup
from services.collection.channels.verifiers import ChannelVerifiers
from services.collection.notification_groups import GroupLimits
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common import lifecycle
from services.common.clock import clock_from_file
from services.common.db import Database
from services.common.logs import configure_logging
from services.common.metrics import serve_metrics
from services.common.settings import Settings, load_settings
from services.common.tls import TlsFiles
from services.common.tracing import configure_tracing

log = structlog.get_logger(__name__)
NAME = "callbacks"


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS (channels present no client certificate; the allow-list stands in, R44)."""
    root = settings.callbacks_tls_path
    if root is None:
        if settings.environment == "production":
            raise SystemExit("the callback endpoint needs TLS: set MEDINS_CALLBACKS_TLS_DIR or MEDINS_TLS_DIR")
        log.warning("callbacks_without_tls", hint="make certs")
        return None
    cert, key = TlsFiles(root).server(NAME)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    clock = clock_from_file(settings.clock_file)
    keys = channel_key_store(settings)
    db = Database(
        settings.tax_dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        idle_seconds=settings.db_pool_idle_seconds,
    )
    await db.connect()
    stopping = [False]
    intake = Intake(
        uow=lambda: CollectionUnitOfWork(db.pool),
        clock=clock,
        verifier=ChannelVerifiers(keys, clock),
        skew=dt.timedelta(seconds=settings.payment_clock_skew_seconds),
        limits=GroupLimits.from_settings(settings),
    )
    runner = web.AppRunner(make_app(intake, networks(settings.callbacks_allowed_ips), stopping), access_log=None)
    await runner.setup()
    context = tls_context(settings)
    site = web.TCPSite(runner, settings.listen_host, settings.callbacks_port, ssl_context=context)
    await site.start()
    log.info("callbacks_serving", port=settings.callbacks_port, tls=context is not None)
    try:
        await reload_on_sighup(keys, stop)
    finally:
        stopping[0] = True
        await runner.shutdown()
        await runner.cleanup()
        await db.close()
        log.info("callbacks_stopped")


def main() -> None:
    settings = load_settings()
    configure_logging(NAME, settings.log_level)
    configure_tracing(NAME)
    serve_metrics(settings.metrics_port, settings.listen_host)
    lifecycle.run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
