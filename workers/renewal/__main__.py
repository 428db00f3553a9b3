"""Carries active enrollments into the year whose window opened (R10): python -m workers.renewal."""

from services.registration.handlers.renewal import renew_due
from workers.periodic_runner import run_job

if __name__ == "__main__":
    run_job(
        name="renewal",
        dsn=lambda s: s.insurance_dsn,
        job=renew_due,
        batch_size=lambda s: s.renewal_batch_size,
        interval_seconds=lambda s: s.worker_interval_seconds,
        pause_seconds=lambda s: s.renewal_batch_pause_ms / 1000,
    )
