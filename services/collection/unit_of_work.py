"""The tax database's unit of work: its repositories and the outbox over one transaction."""

from __future__ import annotations

from services.collection.orders_repository import OrdersRepository
from services.collection.payments_repository import PaymentsRepository
from services.collection.records_repository import RecordsRepository
from services.collection.refunds_repository import RefundsRepository
from services.collection.repository import CollectionRepository
from services.common.db import UnitOfWork
from services.common.messaging.outbox import Outbox

PRODUCER = "collection"


class CollectionUnitOfWork(UnitOfWork):
    items: CollectionRepository
    orders: OrdersRepository
    payments: PaymentsRepository
    refunds: RefundsRepository
    records: RecordsRepository
    outbox: Outbox

    def _open(self) -> None:
        self.items = CollectionRepository(self.conn)
        self.orders = OrdersRepository(self.conn)
        self.payments = PaymentsRepository(self.conn)
        self.refunds = RefundsRepository(self.conn)
        self.records = RecordsRepository(self.conn)
        self.outbox = Outbox(self.conn, PRODUCER)
