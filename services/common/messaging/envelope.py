"""Event envelopes (R33): every event type, its payload field and its schema version, in one table."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from google.protobuf.message import Message
from medins.events.v1 import events_pb2


@dataclass(frozen=True)
class EventType:
    name: str
    payload_field: str
    schema_version: int


ENROLLMENT_REGISTERED = EventType("enrollment.registered", "enrollment_registered", 1)
ENROLLMENT_RENEWED = EventType("enrollment.renewed", "enrollment_renewed", 1)
ENROLLMENT_STOPPED = EventType("enrollment.stopped", "enrollment_stopped", 1)
ENROLLMENT_AGED_OUT = EventType("enrollment.aged_out", "enrollment_aged_out", 1)
ENROLLMENT_REPAIR_OFFERED = EventType("enrollment.repair_offered", "enrollment_repair_offered", 1)
PAYMENT_CONFIRMED = EventType("payment.confirmed", "payment_confirmed", 1)
PAYMENT_REFUNDED = EventType("payment.refunded", "payment_refunded", 1)
COVERAGE_REFUSED = EventType("coverage.refused", "coverage_refused", 1)

EVENT_TYPES = {
    t.name: t
    for t in (
        ENROLLMENT_REGISTERED,
        ENROLLMENT_RENEWED,
        ENROLLMENT_STOPPED,
        ENROLLMENT_AGED_OUT,
        ENROLLMENT_REPAIR_OFFERED,
        PAYMENT_CONFIRMED,
        PAYMENT_REFUNDED,
        COVERAGE_REFUSED,
    )
}


class EventNotReady(Exception):
    """The event depends on another one not applied yet (events about one person arrive out of order,
    R17a). It is retried at the back-off tiers for as long as it may still be early, never dead-lettered
    for the number of its attempts alone."""


class UnprocessableEvent(Exception):
    """An event no retry can fix (malformed, unknown type or schema version): goes to the DLQ at once."""


def new_envelope(
    event_type: EventType,
    payload: Message,
    *,
    producer: str,
    correlation_id: str,
    occurred_at: dt.datetime,
) -> events_pb2.EventEnvelope:
    envelope = events_pb2.EventEnvelope(
        event_id=str(uuid.uuid4()),
        event_type=event_type.name,
        schema_version=event_type.schema_version,
        correlation_id=correlation_id,
        producer=producer,
    )
    envelope.occurred_at.FromDatetime(occurred_at)
    getattr(envelope, event_type.payload_field).CopyFrom(payload)
    return envelope


def parse_envelope(body: bytes) -> events_pb2.EventEnvelope:
    """Parses and checks an envelope; raises UnprocessableEvent when no retry could help."""
    try:
        envelope = events_pb2.EventEnvelope.FromString(body)
    except Exception as exc:  # protobuf raises DecodeError, but also others on garbage
        raise UnprocessableEvent(f"not an EventEnvelope: {exc}") from exc
    known = EVENT_TYPES.get(envelope.event_type)
    if known is None:
        raise UnprocessableEvent(f"unknown event type {envelope.event_type!r}")
    if envelope.schema_version != known.schema_version:
        raise UnprocessableEvent(
            f"{envelope.event_type} schema version {envelope.schema_version} not supported "
            f"(this consumer knows {known.schema_version})"
        )
    if envelope.WhichOneof("payload") != known.payload_field:
        raise UnprocessableEvent(f"{envelope.event_type} carries payload {envelope.WhichOneof('payload')!r}")
    try:
        uuid.UUID(envelope.event_id)
    except ValueError as exc:
        raise UnprocessableEvent(f"event_id {envelope.event_id!r} is not a UUID") from exc
    return envelope
