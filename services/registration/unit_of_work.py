"""The insurance database's unit of work: the repositories, the check projection and the outbox over
one transaction."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.common.messaging.outbox import Outbox
from services.registration.batches_repository import BatchesRepository
from services.registration.check_projection import CheckProjection
from services.registration.coverage_records_repository import CoverageRecordsRepository
from services.registration.enrollment_selection import EnrollmentSelection
from services.registration.enrollments_repository import EnrollmentsRepository
from services.registration.external_repository import ExternalRepository
from services.registration.fund_uses_repository import FundUsesRepository
from services.registration.person_history_repository import PersonHistoryRepository
from services.registration.regions_repository import RegionsRepository
from services.registration.repairs_repository import RepairsRepository

PRODUCER = "registration"


class RegistrationUnitOfWork(UnitOfWork):
    regions: RegionsRepository
    enrollments: EnrollmentsRepository
    selection: EnrollmentSelection
    external: ExternalRepository
    fund_uses: FundUsesRepository
    repairs: RepairsRepository
    history: PersonHistoryRepository
    batches: BatchesRepository
    projection: CheckProjection
    coverage: CoverageRecordsRepository
    outbox: Outbox

    def _open(self) -> None:
        self.regions = RegionsRepository(self.conn)
        self.enrollments = EnrollmentsRepository(self.conn)
        self.selection = EnrollmentSelection(self.conn, self.enrollments)
        self.external = ExternalRepository(self.conn)
        self.batches = BatchesRepository(self.conn)
        self.fund_uses = FundUsesRepository(self.conn)
        self.repairs = RepairsRepository(self.conn)
        self.history = PersonHistoryRepository(self.conn)
        self.projection = CheckProjection(self.conn, self.enrollments, self.external, self.regions, self.fund_uses)
        self.coverage = CoverageRecordsRepository(self.conn)
        self.outbox = Outbox(self.conn, PRODUCER)
