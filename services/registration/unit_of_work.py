"""The insurance database's unit of work: repository and outbox over one transaction."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.common.messaging.outbox import Outbox
from services.registration.repository import RegistrationRepository

PRODUCER = "registration"


class RegistrationUnitOfWork(UnitOfWork):
    repo: RegistrationRepository
    outbox: Outbox

    def _open(self) -> None:
        self.repo = RegistrationRepository(self.conn)
        self.outbox = Outbox(self.conn, PRODUCER)
