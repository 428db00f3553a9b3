"""The tax database's unit of work: repository and outbox over one transaction."""

from __future__ import annotations

from services.collection.repository import CollectionRepository
from services.common.db import UnitOfWork
from services.common.messaging.outbox import Outbox

PRODUCER = "collection"


class CollectionUnitOfWork(UnitOfWork):
    repo: CollectionRepository
    outbox: Outbox

    def _open(self) -> None:
        self.repo = CollectionRepository(self.conn)
        self.outbox = Outbox(self.conn, PRODUCER)
