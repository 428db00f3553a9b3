"""The tax database's unit of work: its repositories and the outbox over one transaction. It fills the
ports of ports.py (CollectionUow), and adds the payment intake, which runs on the database only."""

from __future__ import annotations

from services.collection.agreements_repository import AgreementsRepository
from services.collection.certificates_repository import CertificatesRepository
from services.collection.deductions_repository import DeductionsRepository
from services.collection.family_repository import FamilyRepository
from services.collection.orders_repository import OrdersRepository
from services.collection.payment_intake_repository import PaymentIntakeRepository
from services.collection.payments_repository import PaymentsRepository
from services.collection.reconciliation_repository import ReconciliationRepository
from services.collection.records_repository import RecordsRepository
from services.collection.refunds_repository import RefundsRepository
from services.collection.reminders_repository import RemindersRepository
from services.collection.repository import CollectionRepository
from services.collection.results_repository import ResultsRepository
from services.common.db import UnitOfWork
from services.common.messaging.outbox import Outbox

PRODUCER = "collection"


class CollectionUnitOfWork(UnitOfWork):
    items: CollectionRepository
    orders: OrdersRepository
    payments: PaymentsRepository
    intake: PaymentIntakeRepository
    refunds: RefundsRepository
    records: RecordsRepository
    outbox: Outbox
    agreements: AgreementsRepository
    deductions: DeductionsRepository
    reminders: RemindersRepository
    reconciliation: ReconciliationRepository
    results: ResultsRepository
    family: FamilyRepository
    certificates: CertificatesRepository

    def _open(self) -> None:
        self.items = CollectionRepository(self.conn)
        self.orders = OrdersRepository(self.conn)
        self.payments = PaymentsRepository(self.conn)
        self.intake = PaymentIntakeRepository(self.conn)
        self.refunds = RefundsRepository(self.conn)
        self.records = RecordsRepository(self.conn)
        self.outbox = Outbox(self.conn, PRODUCER)
        self.agreements = AgreementsRepository(self.conn)
        self.deductions = DeductionsRepository(self.conn)
        self.reminders = RemindersRepository(self.conn)
        self.reconciliation = ReconciliationRepository(self.conn)
        self.results = ResultsRepository(self.conn)
        self.family = FamilyRepository(self.conn)
        self.certificates = CertificatesRepository(self.conn)
