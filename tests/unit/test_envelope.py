"""R33: envelopes carry a known type and schema version, or they go to the DLQ."""

from __future__ import annotations

import datetime as dt

import pytest
from medins.events.v1 import events_pb2

from services.common.clock import CST
from services.common.messaging.envelope import ENROLLMENT_STOPPED, UnprocessableEvent, new_envelope, parse_envelope


def stopped_envelope() -> events_pb2.EventEnvelope:
    return new_envelope(
        ENROLLMENT_STOPPED,
        events_pb2.EnrollmentStopped(enrollment_id="e"),
        producer="test",
        correlation_id="c",
        occurred_at=dt.datetime(2023, 11, 20, tzinfo=CST),
    )


def test_a_valid_envelope_round_trips() -> None:
    envelope = stopped_envelope()
    parsed = parse_envelope(envelope.SerializeToString())
    assert parsed.event_type == "enrollment.stopped" and parsed.schema_version == 1
    assert parsed.enrollment_stopped.enrollment_id == "e"


def test_garbage_is_unprocessable() -> None:
    with pytest.raises(UnprocessableEvent):
        parse_envelope(b"\xff\xff\xff")


def test_an_unknown_schema_version_is_unprocessable() -> None:
    envelope = stopped_envelope()
    envelope.schema_version = 2
    with pytest.raises(UnprocessableEvent, match="schema version 2"):
        parse_envelope(envelope.SerializeToString())


def test_a_type_that_disagrees_with_its_payload_is_unprocessable() -> None:
    envelope = stopped_envelope()
    envelope.event_type = "enrollment.registered"
    with pytest.raises(UnprocessableEvent):
        parse_envelope(envelope.SerializeToString())


def test_an_unknown_type_is_unprocessable() -> None:
    envelope = stopped_envelope()
    envelope.event_type = "enrollment.teleported"
    with pytest.raises(UnprocessableEvent, match="unknown event type"):
        parse_envelope(envelope.SerializeToString())
