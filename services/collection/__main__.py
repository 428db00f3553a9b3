"""Composition root of the collection service (python -m services.collection)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc

from services.collection import access
from services.collection.card_vault import CardVault
from services.collection.channels.key_reload import channel_key_store, reload_on_sighup
from services.collection.channels.keys import KeyStore
from services.collection.channels.verifiers import ChannelVerifiers
from services.collection.gateways.sms import LocalSmsGateway
from services.collection.grpc_api import CollectionConfig, CollectionServicer
from services.collection.notification_groups import GroupLimits
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Database, Pool
from services.common.grpc_server import GrpcService
from services.common.service_main import run_grpc_service
from services.common.settings import Settings


class Collection:
    """The service and what runs beside it: the channels' keys, re-read on SIGHUP (R42)."""

    keys: KeyStore | None = None

    def build(self, db: Database, clock: Clock, settings: Settings) -> GrpcService:
        config = CollectionConfig(
            order_ttl=dt.timedelta(seconds=settings.order_ttl_seconds),
            school_order_ttl=dt.timedelta(seconds=settings.school_order_ttl_seconds),
            clock_skew=dt.timedelta(seconds=settings.payment_clock_skew_seconds),
            intake_groups=GroupLimits.from_settings(settings),
        )
        self.keys = channel_key_store(settings)
        servicer = CollectionServicer(
            lambda: CollectionUnitOfWork(db.pool),
            clock,
            ChannelVerifiers(self.keys, clock),
            config,
            vault=CardVault.from_settings(settings.card_keys, settings.card_key_id),
            sms=LocalSmsGateway(Path(settings.sms_outbox_file) if settings.sms_outbox_file else None),
        )
        return GrpcService(
            access.SERVICE,
            servicer,
            pb_grpc.add_CollectionServiceServicer_to_server,
            access=access.ACCESS,
            max_request_bytes=access.MAX_REQUEST_BYTES,
            # R21b: a notification the edge refuses is still stored with its outcome.
            observe_refusal=servicer.record_refusal,
            priorities=access.ADMISSION_PRIORITIES,
        )

    async def background(self, pool: Pool, stop: asyncio.Event) -> None:
        assert self.keys is not None  # built before the server starts
        await reload_on_sighup(self.keys, stop)


if __name__ == "__main__":
    collection = Collection()
    run_grpc_service(
        name="collection",
        port=lambda s: s.collection_port,
        dsn=lambda s: s.tax_dsn,
        build=collection.build,
        background=collection.background,
        person_trail=True,
    )
