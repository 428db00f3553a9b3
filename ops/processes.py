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
    # MEDINS_NICENESS of the process: the check and the payment intake answer callers who wait (R16);
    # registration's batches and the workers can wait for a core.
    niceness: int = 0

    @property
    def env(self) -> dict[str, str]:
        """What the process's environment adds to the shared one."""
        return {"MEDINS_NICENESS": str(self.niceness)}


# Scheduled workers (renewal, age-out, expiry, refunds, deductions, reminders): background work, nicest.
# Registration serves people too, but its 2,000-row batches are the heaviest CPU load of all, and the
# assessment consumer turns each registered row into payable items at the same pace: both yield to the
# check and the payment intake. The relays and the coverage consumer keep the default: coverage follows
# the money (a payment kept without coverage is what the audit looks for).
WORKER_NICENESS = 10
REGISTRATION_NICENESS = 5


def _at(port: Callable[[Settings], int]) -> Callable[[Settings], str]:
    return lambda s: f"{s.listen_host}:{port(s)}"


PROCESSES = (
    ProcessSpec(
        "registration", ("-m", "services.registration"), _at(lambda s: s.registration_port), REGISTRATION_NICENESS
    ),
    ProcessSpec("enrollment", ("-m", "services.enrollment"), _at(lambda s: s.enrollment_port)),
    ProcessSpec("collection", ("-m", "services.collection"), _at(lambda s: s.collection_port)),
    ProcessSpec("outbox-relay-insurance", ("-m", "workers.outbox_relay", "insurance")),
    ProcessSpec("outbox-relay-tax", ("-m", "workers.outbox_relay", "tax")),
    ProcessSpec("assessment", ("-m", "workers.assessment"), niceness=REGISTRATION_NICENESS),
    ProcessSpec("coverage", ("-m", "workers.coverage")),
    ProcessSpec("renewal", ("-m", "workers.renewal"), niceness=WORKER_NICENESS),
    ProcessSpec("age-out", ("-m", "workers.age_out"), niceness=WORKER_NICENESS),
    ProcessSpec("order-expiry", ("-m", "workers.order_expiry"), niceness=WORKER_NICENESS),
    ProcessSpec("refunds", ("-m", "workers.refunds"), niceness=WORKER_NICENESS),
    # R43: asks the channels about orders whose notification may be lost; idle until channels are configured.
    ProcessSpec("payment-query", ("-m", "workers.payment_query"), niceness=WORKER_NICENESS),
    ProcessSpec("deductions", ("-m", "workers.deductions"), niceness=WORKER_NICENESS),
    ProcessSpec("reminders", ("-m", "workers.reminders"), niceness=WORKER_NICENESS),
)

# R44: the channels' HTTPS callback endpoint. `make run` starts it beside the others; the deployment
# manifests (deploy/) and the end-to-end System do not yet run it by default (tests start it by name).
CALLBACKS = ProcessSpec("callbacks", ("-m", "services.collection.callbacks"))
LOCAL_PROCESSES = (*PROCESSES, CALLBACKS)
