"""OpenTelemetry traces across the agencies (issue 24): one payment's trace runs from the collection
service's gRPC call through the outbox row, the relay and RabbitMQ to the coverage consumer and the
insurance database.

The context travels as W3C `traceparent` (the propagators of OTEL_PROPAGATORS, tracecontext and baggage
by default): in gRPC metadata into a service (the call policy opens the server span), in the outbox row
of the transaction that wrote the event (UnitOfWork sets it, the column's default picks it up: no
repository has to know), in the AMQP headers the relay publishes with, and out of them in the consumer.

Off unless OTEL_TRACES_EXPORTER names an exporter (`otlp`, over gRPC to OTEL_EXPORTER_OTLP_ENDPOINT, or
`console`); the other standard OTEL_* variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_*) work as the SDK documents them. When off, the SDK
is not even imported, and every hook below is one test of a module flag: the hot paths pay nothing
measurable.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, SpanKind

TRACEPARENT = "traceparent"
_EXPORTERS = ("otlp", "console")


class _State:
    enabled = False


def enabled() -> bool:
    return _State.enabled


def configure_tracing(service: str) -> None:
    """Once per process, at start: a tracer provider exporting as OTEL_TRACES_EXPORTER says (nothing when
    unset or `none`). The service name is OTEL_SERVICE_NAME, else the process's own name."""
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    if not names or names == ["none"] or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    unknown = [n for n in names if n not in _EXPORTERS]
    if unknown:
        raise SystemExit(f"invalid settings: OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not one of {_EXPORTERS}")
    from opentelemetry import trace  # noqa: PLC0415 - only a process that traces loads the SDK
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service)}))
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)  # what is still batched is exported when the process ends
    _State.enabled = True


def _tracer() -> Any:
    from opentelemetry import trace  # noqa: PLC0415

    return trace.get_tracer("medins")


def _kind(name: str) -> SpanKind:
    from opentelemetry.trace import SpanKind  # noqa: PLC0415

    return SpanKind[name]


def current_traceparent() -> str | None:
    """The current span's context as a `traceparent` value, or None (tracing off, or no span)."""
    if not _State.enabled:
        return None
    from opentelemetry import propagate  # noqa: PLC0415

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def headers_with_context(headers: dict[str, Any]) -> dict[str, Any]:
    """`headers` plus the current span's context (tracing on), for an outgoing message."""
    if _State.enabled:
        from opentelemetry import propagate  # noqa: PLC0415

        propagate.inject(headers)
    return headers


@contextmanager
def _span(
    name: str, kind: str, parent: Mapping[str, Any] | None, attributes: Mapping[str, Any]
) -> Iterator[Span | None]:
    from opentelemetry import propagate  # noqa: PLC0415

    context = propagate.extract({k: str(v) for k, v in parent.items()}) if parent is not None else None
    with _tracer().start_as_current_span(name, context=context, kind=_kind(kind), attributes=dict(attributes)) as span:
        yield span


def span(
    name: str,
    *,
    kind: str = "INTERNAL",
    parent: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Span | None]:
    """A span made current for the block (a child of `parent`'s carried context when given, else of the
    current span); nothing at all when tracing is off. `kind`: SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL."""
    if not _State.enabled:
        return nullcontext()
    return _span(name, kind, parent, attributes or {})


def metadata_carrier(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """gRPC invocation metadata as a carrier for extraction (text values only)."""
    return {key: value for key, value in metadata or () if isinstance(value, str)}
