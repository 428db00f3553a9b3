"""The tax bureau's own Prometheus series (issue 13): payment notifications, refunds and expired orders,
served by the collection processes beside the platform's (services/common/metrics.py) and charted in
deploy/grafana/medins.json. Labels are small fixed sets (channel, outcome): nothing a caller sends
becomes a label value."""

from __future__ import annotations

from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

PAYMENT_NOTIFICATIONS = Counter(
    "medins_payment_notifications",
    "Payment notifications received, by channel and outcome (APPLIED, REFUND_RAISED, DUPLICATE_REPLAYED, refusals)",
    ("channel", "outcome"),
)
REFUNDS = Counter(
    "medins_refunds",
    "Refunds the refund worker handed to their channel, by channel and outcome (submitted, failed)",
    ("channel", "outcome"),
)
ORDERS_EXPIRED = Counter("medins_orders_expired", "Pending orders expired unpaid (R19)")

SERIES: tuple[MetricWrapperBase, ...] = (PAYMENT_NOTIFICATIONS, REFUNDS, ORDERS_EXPIRED)

PAYMENT_INTAKE_BUSY = Counter(
    "medins_payment_intake_busy",
    "Notifications answered busy (nothing stored) because too many were already waiting (issue 23)",
)
PAYMENT_GROUP_SIZE = Histogram(
    "medins_payment_group_size",
    "Payment notifications taken in by one transaction (group commit, issue 23)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
