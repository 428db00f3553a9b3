"""Stops minors who turned 18 (R12): python -m workers.age_out."""

from services.registration.handlers.stop import age_out_due
from workers.periodic_runner import run_job

if __name__ == "__main__":
    run_job(
        name="age-out",
        dsn=lambda s: s.insurance_dsn,
        job=age_out_due,
        batch_size=lambda s: s.age_out_batch_size,
        interval_seconds=lambda s: s.worker_interval_seconds,
    )
