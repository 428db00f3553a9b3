"""Issue 24 item 5: one payment is one trace across the processes and the agencies: the collection
service's NotifyPayment (a child of the caller's `traceparent` in gRPC metadata) → the tax relay's
publish (the context kept in the outbox row) → RabbitMQ (the AMQP headers) → the coverage consumer →
its transaction on the insurance database.

The processes are separate, so the SDK's in-memory exporter cannot see them all: each exports over
OTLP/gRPC (the standard OTEL_* variables) to a receiver this test runs, which keeps every span."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.system import PAYMENT_PATH, System, running_system
from tests.e2e.test_payments import covered, order_for, registered_person
from tests.infra import Stack
from tests.support import eventually

PROCESSES = PAYMENT_PATH


@dataclass(frozen=True)
class SeenSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[SeenSpan] = []

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                self.spans += [_seen(attributes.get("service.name", ""), span) for span in scope.spans]
        return trace_service_pb2.ExportTraceServiceResponse()


def _seen(service: str, span: trace_pb2.Span) -> SeenSpan:
    attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
    return SeenSpan(
        service, span.name, span.kind, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), attributes
    )


@pytest.fixture(autouse=True)
def clock_at_start() -> None:
    """Overrides the package's autouse fixture: this module runs a system of its own."""


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    server = grpc.aio.server()
    keeper = Receiver()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(keeper, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield keeper, port
    await server.stop(None)


@pytest.fixture(scope="module")
async def traced_system(
    receiver: tuple[Receiver, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    exporting = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver[1]}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    workdir = Path(tmp_path_factory.mktemp("tracing"))
    async with running_system(Stack("tracing"), workdir, START, env=exporting, only=list(PROCESSES)) as system:
        yield system


def _one(spans: list[SeenSpan], **match: object) -> SeenSpan:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


async def test_one_payment_is_one_trace_from_the_collection_call_to_the_insurance_database(
    traced_system: System, receiver: tuple[Receiver, int]
) -> None:
    system, (keeper, _) = traced_system, receiver
    registration = RegistrationClient(system.channel("registration"))
    collection = CollectionClient(system.channel("collection"))
    enrollment = EnrollmentClient(system.channel("enrollment"))
    number, items = await registered_person(registration, collection, name="追踪")
    order = await order_for(collection, number, items)
    # The channel's side of the call: its own span, sent as W3C traceparent in the metadata.
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    reply = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START)),
        metadata=(("traceparent", f"00-{trace_id}-{caller_span}-01"),),
    )
    await covered(enrollment, number, 2024)
    payment_process = "payment.confirmed process"

    # Each process exports its spans in batches of its own: wait until every hop's span has arrived.
    hops = {
        ("collection", trace_pb2.Span.SPAN_KIND_SERVER),
        ("outbox-relay-tax", trace_pb2.Span.SPAN_KIND_PRODUCER),
        ("coverage", trace_pb2.Span.SPAN_KIND_CONSUMER),
        ("coverage", trace_pb2.Span.SPAN_KIND_CLIENT),
    }

    async def whole_trace() -> list[SeenSpan]:
        mine = [s for s in keeper.spans if s.trace_id == trace_id]
        assert hops <= {(s.service, s.kind) for s in mine}, mine
        return mine

    spans = await eventually(whole_trace, timeout=30)
    kinds = trace_pb2.Span
    notify = _one(spans, service="collection", kind=kinds.SPAN_KIND_SERVER)
    assert notify.name.endswith("/NotifyPayment") and notify.parent_id == caller_span
    publish = _one(spans, service="outbox-relay-tax", kind=kinds.SPAN_KIND_PRODUCER)
    assert (publish.name, publish.parent_id) == ("payment.confirmed publish", notify.span_id)
    consume = _one(spans, service="coverage", kind=kinds.SPAN_KIND_CONSUMER)
    assert (consume.name, consume.parent_id) == (payment_process, publish.span_id)
    database = _one(spans, service="coverage", kind=kinds.SPAN_KIND_CLIENT)
    assert database.parent_id == consume.span_id
    assert database.attributes["db.namespace"] == system.stack.insurance_db
    assert database.attributes["db.system.name"] == "postgresql"
    assert reply.payment_id
    # The payment is its own trace: the registration before it, called without a context, is another.
    registered = [s for s in keeper.spans if s.service == "registration" and s.name.endswith("/RegisterResident")]
    assert registered and all(s.trace_id != trace_id for s in registered)
