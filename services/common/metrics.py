"""The platform's Prometheus series (issue 13): calls, outbox, consumers, periodic jobs; a service's own
series live in its wing (services/collection/metrics.py). Each process serves the ones it moves on its
own port (MEDINS_METRICS_PORT; 0, the default, serves none) at /metrics,
beside prometheus-client's process_* and python_* series. deploy/grafana/medins.json charts them.

Labels are kept to small fixed sets (method, status code, queue, consumer, job): nothing a caller
sends becomes a label value, so a hostile caller cannot grow the series without bound."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable

import grpc
import structlog
from prometheus_client import Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from services.common.identity import CallerKind

log = structlog.get_logger(__name__)

# From half a millisecond (a cached read) to ten seconds (a batch upload under load).
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RPC_DURATION = Histogram(
    "medins_rpc_duration_seconds",
    "gRPC calls served, by method and status code: latency; its _count is the number of calls",
    ("method", "code"),
    buckets=RPC_BUCKETS,
)
OUTBOX_BACKLOG = Gauge("medins_outbox_backlog_rows", "Outbox rows committed but not yet published (R31)", ("database",))
OUTBOX_OLDEST_AGE = Gauge(
    "medins_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row; 0 when none waits", ("database",)
)
OUTBOX_PUBLISHED = Counter("medins_outbox_published", "Outbox rows published with a broker confirm", ("database",))
CONSUMER_LAG = Gauge(
    "medins_consumer_lag_messages", "Messages waiting in a consumer's queue, not yet delivered to it", ("queue",)
)
CONSUMER_EVENTS = Counter(
    "medins_consumer_events",
    "Deliveries a consumer handled, by outcome: applied, duplicate (the inbox had it), retried, dead_lettered",
    ("consumer", "outcome"),
)
CONSUMER_REDELIVERIES = Counter(
    "medins_consumer_redeliveries",
    "Deliveries seen before: redelivered by the broker, or an event the consumer's inbox already holds",
    ("consumer",),
)
CONSUMER_BATCH_SIZE = Histogram(
    "medins_consumer_batch_size",
    "Events applied by one consumer transaction (batches, issue 23)",
    ("consumer",),
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
DLQ_DEPTH = Gauge("medins_dlq_depth_messages", "Messages parked in a dead-letter queue (R32)", ("queue",))
JOB_ITEMS = Counter("medins_job_items", "Items a periodic worker's job handled", ("job",))
JOB_RUNS = Counter("medins_job_runs", "Runs of a periodic worker's job, by outcome: ok, failed", ("job", "outcome"))
# Admission control (issue 22, services/common/admission.py): by service and kind of caller (a fixed set;
# caller names are not labels), how calls were admitted (immediate, queued) or why they were shed.
ADMISSION_ADMITTED = Counter(
    "medins_admission_admitted",
    "Calls admitted by a service's admission control, by kind of caller and path: immediate, queued",
    ("service", "caller_kind", "path"),
)
ADMISSION_SHED = Counter(
    "medins_admission_shed",
    "Calls answered at once without being run, by kind of caller and reason: "
    "CALLER_OVER_SHARE, CALLER_OVER_RATE, OVERLOADED (RESOURCE_EXHAUSTED), DEADLINE_TOO_SHORT (DEADLINE_EXCEEDED)",
    ("service", "caller_kind", "shed_reason"),
)
ADMISSION_QUEUED = Gauge(
    "medins_admission_queued_calls",
    "Calls waiting for a slot of a service, by kind of caller",
    ("service", "caller_kind"),
)

SERIES: tuple[MetricWrapperBase, ...] = (
    RPC_DURATION,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISHED,
    CONSUMER_LAG,
    CONSUMER_EVENTS,
    CONSUMER_REDELIVERIES,
    CONSUMER_BATCH_SIZE,
    DLQ_DEPTH,
    JOB_ITEMS,
    JOB_RUNS,
    ADMISSION_ADMITTED,
    ADMISSION_SHED,
    ADMISSION_QUEUED,
)

_SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed_names(series: Iterable[MetricWrapperBase] = SERIES) -> frozenset[str]:
    """The sample names `series` show on /metrics (a counter's `_total`, a histogram's
    `_bucket`/`_count`/`_sum`): what a dashboard or alert may name."""
    return frozenset(
        family.name + suffix
        for collector in series
        for family in collector.describe()
        for suffix in _SAMPLE_SUFFIXES[family.type]
    )


def serve_metrics(port: int, host: str) -> None:
    """Serves /metrics on a background thread of the process (port 0: not at all)."""
    if port == 0:
        return
    start_http_server(port, addr=host)
    log.info("metrics_serving", port=port)


class RpcTimer:
    """One method's latency histogram, its children looked up once per status code: the call policy
    observes every call, so the per-call cost is one dict lookup and one observe."""

    def __init__(self, method: str) -> None:
        self._method = method
        self._by_code: dict[grpc.StatusCode, Histogram] = {}

    def observe(self, code: grpc.StatusCode | None, seconds: float) -> None:
        code = code or grpc.StatusCode.OK
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = RPC_DURATION.labels(self._method, code.name)
        child.observe(seconds)


class AdmissionMetrics:
    """What one service's admission gate tells (services/common/admission.py Observer): the counters
    and gauge above, and one log line per burst of shedding (at most one per `log_every` seconds, with
    what was shed since the last one), never one per call."""

    def __init__(self, service: str, log_every: float = 1.0, now: Callable[[], float] = time.monotonic) -> None:
        self._service = service
        self._log_every = log_every
        self._now = now
        self._last_line = -log_every
        self._shed: Tally[tuple[str, str]] = Tally()

    def __call__(self, what: str, kind: CallerKind, label: str) -> None:
        if what == "admitted":
            ADMISSION_ADMITTED.labels(self._service, kind.value, label).inc()
        elif what == "queued":
            ADMISSION_QUEUED.labels(self._service, kind.value).inc(1 if label == "+1" else -1)
        elif what == "shed":
            ADMISSION_SHED.labels(self._service, kind.value, label).inc()
            self._shed[(kind.value, label)] += 1
            now = self._now()
            if now - self._last_line >= self._log_every:
                log.warning(
                    "admission_shed",
                    service=self._service,
                    shed={f"{kind}/{reason}": n for (kind, reason), n in sorted(self._shed.items())},
                    seconds=round(min(now - self._last_line, 3600.0), 1),
                )
                self._last_line = now
                self._shed.clear()
