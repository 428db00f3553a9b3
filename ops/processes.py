"""Every process of the system, as `make run` and the end-to-end tests start them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.common.settings import Settings


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    args: tuple[str, ...]
    address: Callable[[Settings], str] | None = None


def _at(port: Callable[[Settings], int]) -> Callable[[Settings], str]:
    return lambda s: f"{s.listen_host}:{port(s)}"


PROCESSES = (
    ProcessSpec("registration", ("-m", "services.registration"), _at(lambda s: s.registration_port)),
    ProcessSpec("enrollment", ("-m", "services.enrollment"), _at(lambda s: s.enrollment_port)),
    ProcessSpec("collection", ("-m", "services.collection"), _at(lambda s: s.collection_port)),
    ProcessSpec("outbox-relay-insurance", ("-m", "workers.outbox_relay", "insurance")),
    ProcessSpec("outbox-relay-tax", ("-m", "workers.outbox_relay", "tax")),
    ProcessSpec("assessment", ("-m", "workers.assessment")),
    ProcessSpec("coverage", ("-m", "workers.coverage")),
    ProcessSpec("renewal", ("-m", "workers.renewal")),
    ProcessSpec("age-out", ("-m", "workers.age_out")),
    ProcessSpec("order-expiry", ("-m", "workers.order_expiry")),
    ProcessSpec("refunds", ("-m", "workers.refunds")),
    ProcessSpec("deductions", ("-m", "workers.deductions")),
    ProcessSpec("reminders", ("-m", "workers.reminders")),
)
