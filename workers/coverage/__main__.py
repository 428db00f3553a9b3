"""Insurance side: consumes payment events and grants or withdraws coverage (python -m workers.coverage)."""

from services.common.messaging.topology import REGISTRATION_PAYMENT_EVENTS
from services.registration.handlers.coverage import payment_event_handlers
from services.registration.unit_of_work import RegistrationUnitOfWork
from workers.consumer_runner import run_consumer

if __name__ == "__main__":
    run_consumer(
        service="coverage",
        consumer="registration",
        queue=REGISTRATION_PAYMENT_EVENTS,
        dsn=lambda settings: settings.insurance_dsn,
        uow_factory=RegistrationUnitOfWork,
        handlers=payment_event_handlers,
    )
