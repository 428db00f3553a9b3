"""Tax side: consumes enrollment events and assesses or cancels payable items (python -m workers.assessment)."""

from services.collection.enrollment_events import enrollment_event_handlers
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.messaging.topology import COLLECTION_ENROLLMENT_EVENTS
from workers.consumer_runner import run_consumer

if __name__ == "__main__":
    run_consumer(
        service="assessment",
        consumer="collection",
        queue=COLLECTION_ENROLLMENT_EVENTS,
        dsn=lambda settings: settings.tax_dsn,
        uow_factory=CollectionUnitOfWork,
        handlers=enrollment_event_handlers,
    )
