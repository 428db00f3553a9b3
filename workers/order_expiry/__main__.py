"""Expires pending orders past their time (R19): python -m workers.order_expiry."""

from services.collection.order_expiry import expire_due_orders
from workers.periodic_runner import run_job

if __name__ == "__main__":
    run_job(
        name="order-expiry",
        dsn=lambda s: s.tax_dsn,
        job=expire_due_orders,
        batch_size=lambda s: 500,
        interval_seconds=lambda s: s.order_expiry_interval_seconds,
    )
