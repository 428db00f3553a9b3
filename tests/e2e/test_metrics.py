"""Every process serves Prometheus metrics (issue 13): after registrations, a payment, a double payment
(refunded) and an expired order, each process's /metrics shows its series and the counters moved.

The end-to-end system runs with a metrics port per process (tests/e2e/conftest.py); earlier tests of
the session have moved the counters already, so each check compares with a scrape taken first."""

from __future__ import annotations

import asyncio
import datetime as dt
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from prometheus_client.parser import text_string_to_metric_families

from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.system import System
from tests.e2e.test_payments import covered, order_for, registered_person
from tests.factories import unique_resident_id
from tests.support import eventually, refused

SERVICES = ("registration", "enrollment", "collection")
RELAYS = ("outbox-relay-insurance", "outbox-relay-tax")
CONSUMERS = ("assessment", "coverage")
JOBS = ("renewal", "age-out", "order-expiry", "refunds", "deductions", "reminders")
RPC = "medins_rpc_duration_seconds"


@dataclass(frozen=True)
class Scrape:
    """One /metrics page: every sample as (name, labels) → value."""

    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
        wanted = set(labels.items())
        return sum(v for (n, have), v in self.samples.items() if n == name and wanted <= have)


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


async def scrape(system: System, name: str) -> Scrape:
    text = await asyncio.to_thread(_get, system.metrics_ports[name])
    return Scrape(
        {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    )


async def scrape_all(system: System) -> dict[str, Scrape]:
    names = [*SERVICES, *RELAYS, *CONSUMERS, *JOBS]
    return dict(zip(names, await asyncio.gather(*(scrape(system, n) for n in names)), strict=True))


SERVICE_NAMES = {
    "registration": "medins.registration.v1.RegistrationService",
    "enrollment": "medins.enrollment.v1.EnrollmentCheckService",
    "collection": "medins.collection.v1.CollectionService",
}


def method(service: str, name: str) -> str:
    return f"/{SERVICE_NAMES[service]}/{name}"


async def test_every_process_serves_its_series_and_the_counters_move_with_a_payment(
    system: System, registration: RegistrationClient, collection: CollectionClient, enrollment: EnrollmentClient
) -> None:
    before = await scrape_all(system)

    number, items = await registered_person(registration, collection, name="度量")
    payer = unique_resident_id()
    order = await order_for(collection, payer, items)
    held = await refused(order_for(collection, payer, items))
    assert held.code is grpc.StatusCode.FAILED_PRECONDITION
    paid = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START))
    )
    assert paid.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    await covered(enrollment, number, 2024)
    double = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START))
    )
    assert double.outcome == col.NOTIFICATION_OUTCOME_REFUND_RAISED
    # An order left unpaid expires once the clock passes its time (R19).
    other, other_items = await registered_person(registration, collection, name="过期")
    await order_for(collection, other, other_items)
    system.set_clock(START + dt.timedelta(seconds=61))

    async def moved() -> None:
        after = await scrape_all(system)

        def grew(process: str, name: str, **labels: str) -> None:
            was, now = before[process].value(name, **labels), after[process].value(name, **labels)
            assert now > was, f"{process}: {name}{labels} stayed at {now}"

        for service in SERVICES:
            assert {f"{RPC}_bucket", f"{RPC}_count", f"{RPC}_sum"} <= after[service].names(), service
        grew("registration", f"{RPC}_count", method=method("registration", "RegisterResident"), code="OK")
        grew("enrollment", f"{RPC}_count", method=method("enrollment", "CheckEnrollment"), code="OK")
        grew("collection", f"{RPC}_count", method=method("collection", "CreateOrder"), code="FAILED_PRECONDITION")
        grew("collection", f"{RPC}_count", method=method("collection", "NotifyPayment"), code="OK")
        grew("collection", "medins_payment_notifications_total", channel="WECHAT", outcome="APPLIED")
        grew("collection", "medins_payment_notifications_total", channel="WECHAT", outcome="REFUND_RAISED")

        for relay in RELAYS:
            assert {"medins_outbox_backlog_rows", "medins_outbox_oldest_age_seconds"} <= after[relay].names(), relay
            grew(relay, "medins_outbox_published_total")
        for consumer in CONSUMERS:
            shown = after[consumer].names()
            assert {"medins_consumer_lag_messages", "medins_dlq_depth_messages"} <= shown, consumer
            assert "medins_consumer_redeliveries_total" in shown, consumer
            grew(consumer, "medins_consumer_events_total", outcome="applied")

        grew("order-expiry", "medins_orders_expired_total")
        grew("refunds", "medins_refunds_total", channel="WECHAT", outcome="submitted")
        for job in JOBS:
            assert after[job].value("medins_job_runs_total", outcome="ok") >= 1, job

    await eventually(moved, timeout=30)
