"""R34, R21b: hostile calls to every RPC of the three services, generated from the descriptors.

For each call: never INTERNAL or UNKNOWN; every INVALID_ARGUMENT carries ErrorInfo and a field
violation; trailers stay under 8 kB; a refused call writes nothing (row counts of both databases),
except that every NotifyPayment, refused or not, leaves exactly one stored notification. Afterwards
every service is still healthy.

`make test` runs a short profile; `make fuzz` runs at least 5,000 calls (MEDINS_FUZZ_EXAMPLES per RPC).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2, status_pb2
from hypothesis import HealthCheck, given, settings
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.access import MAX_REQUEST_BYTES as COLLECTION_BYTES
from services.common.validation import max_items
from services.enrollment.access import MAX_REQUEST_BYTES as ENROLLMENT_BYTES
from services.registration.access import MAX_REQUEST_BYTES as REGISTRATION_BYTES
from tests.fuzz.conftest import FuzzTarget
from tests.fuzz.strategies import calls, smallest

EXAMPLES = int(os.environ.get("MEDINS_FUZZ_EXAMPLES", "6"))
MIN_CALLS = int(os.environ.get("MEDINS_FUZZ_MIN_CALLS", "0"))
SERVICES = {
    "registration": reg.DESCRIPTOR.services_by_name["RegistrationService"],
    "enrollment": chk.DESCRIPTOR.services_by_name["EnrollmentCheckService"],
    "collection": col.DESCRIPTOR.services_by_name["CollectionService"],
}
METHODS = [(name, method) for name, service in SERVICES.items() for method in service.methods]
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
MAX_TRAILER_BYTES = 8 * 1024


def _trailers(error: grpc.RpcError) -> list[tuple[str, str | bytes]]:
    call = cast(grpc.Call, error)
    return [(str(k), v) for k, v in cast(Iterable[tuple[str, str | bytes]], call.trailing_metadata() or ())]


def _status(error: grpc.RpcError) -> status_pb2.Status | None:
    for key, value in _trailers(error):
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def _check_refusal(error: grpc.RpcError, method: str) -> grpc.StatusCode:
    call = cast(grpc.Call, error)
    code = call.code()
    assert code not in NEVER, f"{method} answered {code.name}: {call.details()}"
    trailers = sum(len(k) + len(v) for k, v in _trailers(error))
    assert trailers < MAX_TRAILER_BYTES, f"{method}: trailers of {trailers} bytes"
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        status = _status(error)
        assert status is not None, f"{method}: INVALID_ARGUMENT without details"
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        assert any(d.Unpack(info) for d in status.details) and info.reason, f"{method}: no ErrorInfo"
        assert any(d.Unpack(bad) for d in status.details) and bad.field_violations, f"{method}: no field violation"
    return code


# The RPCs whose every notification is stored, refused or not (R21b).
NOTIFYING = {"NotifyPayment", "NotifyPayments"}


def records_for(method: str, body: bytes, code: grpc.StatusCode) -> int:
    """How many notification records a call leaves (R21b, R41): one for NotifyPayment; for a batch
    answered OK one per notification it holds (each answered alone), and one for a batch refused whole
    (bytes that do not parse, too many notifications, a bad envelope): it is one refused request."""
    if method == "NotifyPayment" or code != grpc.StatusCode.OK:
        return 1
    try:
        return len(col.NotifyPaymentsRequest.FromString(body).notifications)
    except (DecodeError, RecursionError, ValueError):
        return 1


# Issue 19's RPCs (R46, R47, R48): generated from the descriptors like every other, named here so that
# one moved out of the three services (or renamed) fails this suite instead of dropping out of it.
ISSUE_19 = {
    ("collection", "BindFamilyMember"),
    ("collection", "UnbindFamilyMember"),
    ("collection", "ListFamilyMembers"),
    ("collection", "IssuePaymentCertificate"),
    ("collection", "VerifyPaymentCertificate"),
    ("collection", "ListPaymentRecords"),
    ("enrollment", "GetMyEnrollment"),
    ("registration", "SetRegionPolicy"),
}


def test_issue_19s_rpcs_and_fields_are_fuzzed() -> None:
    """R34 over R45-R49: the new RPCs are among those called, and the requests carry the new fields the
    strategies fill (records by fee period, R47; a policy's evidence rules, elderly age and channel
    openings, R45, R49)."""
    fuzzed = {(service, method.name) for service, method in METHODS}
    assert not ISSUE_19 - fuzzed, f"not fuzzed: {sorted(ISSUE_19 - fuzzed)}"
    records = col.ListPaymentRecordsRequest.DESCRIPTOR.fields_by_name
    assert "fee_period" in records and "period" in records
    policy = reg.RegionPolicy.DESCRIPTOR.fields_by_name
    assert {"evidence_rules", "elderly_age", "channel_openings"} <= set(policy)


@pytest.mark.parametrize(("service", "method"), METHODS, ids=[f"{s}.{m.name}" for s, m in METHODS])
def test_hostile_calls_are_refused_cleanly_and_write_nothing(
    fuzz_target: FuzzTarget, service: str, method: MethodDescriptor
) -> None:
    call = fuzz_target.channels[service].unary_unary(f"/{SERVICES[service].full_name}/{method.name}", None, None)
    path = f"{service}.{method.name}"
    notifies = method.name in NOTIFYING

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(body=calls(method))
    def hostile_call(body: bytes) -> None:
        before = fuzz_target.counts()
        try:
            call(body, timeout=30)
            code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            code = _check_refusal(error, path)
        fuzz_target.codes[code.name] += 1
        after = fuzz_target.counts()
        if notifies and code != grpc.StatusCode.RESOURCE_EXHAUSTED:
            stored = after.pop("tax.notification_records") - before.pop("tax.notification_records")
            sent = records_for(method.name, body, code)
            assert stored == sent, f"{path} ({code.name}) stored {stored} notifications, not {sent} (R21b)"
        if code != grpc.StatusCode.OK:
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            assert not changed, f"{path} was refused ({code.name}) but wrote {changed}"

    hostile_call()


# Over the batch cap of 1,000 (R21b over R34, R41): refused before any notification is processed or
# stored, and recorded once, as one refused request. Before issue 17 each was stored element by element
# (10,000 elements: 13 s; 100,000: past the caller's deadline, and the server went on writing).
OVER_CAP = (1_001, 10_000, 100_000)


@pytest.mark.parametrize("elements", OVER_CAP)
def test_an_over_cap_batch_is_refused_at_once_and_recorded_once(fuzz_target: FuzzTarget, elements: int) -> None:
    call = fuzz_target.channels["collection"].unary_unary(
        f"/{SERVICES['collection'].full_name}/NotifyPayments", None, None
    )
    body = col.NotifyPaymentsRequest(
        notifications=[col.NotifyPaymentRequest() for _ in range(elements)]
    ).SerializeToString()
    refused = _refused_at_once(fuzz_target, call, body)
    error, took, before, after, settled = refused.call, refused.took, refused.before, refused.after, refused.settled
    stored = after["tax.notification_records"] - before["tax.notification_records"]
    later = settled["tax.notification_records"] - before["tax.notification_records"]
    print(  # noqa: T201 - the figures of make fuzz
        f"\nover-cap NotifyPayments of {elements:,}: {error.code().name} in {took:.3f} s, "
        f"{stored} record(s) at the answer, {later} a second later"
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _check_refusal(refused.error, "NotifyPayments") == grpc.StatusCode.INVALID_ARGUMENT
    assert took < 1.0, f"refusing {elements:,} notifications took {took:.2f} s"
    assert stored == 1, f"{stored} records for one refused request of {elements:,} notifications"
    assert settled == after, "the server went on writing after it answered"
    fuzz_target.codes[error.code().name] += 1


@dataclass(frozen=True)
class Refusal:
    """An over-cap request's refusal: the error, how long it took, and the rows of every table before
    the call, at its answer and a second after it."""

    error: grpc.RpcError
    took: float
    before: dict[str, int]
    after: dict[str, int]
    settled: dict[str, int]

    @property
    def call(self) -> grpc.Call:
        return cast(grpc.Call, self.error)


def _refused_at_once(fuzz_target: FuzzTarget, call: Any, body: bytes, *, settle: bool = True) -> Refusal:
    before = fuzz_target.counts()
    started = time.perf_counter()
    with pytest.raises(grpc.RpcError) as refused:
        call(body, timeout=30)
    took = time.perf_counter() - started
    after = fuzz_target.counts()
    if not settle:
        return Refusal(refused.value, took, before, after, after)
    # Nothing may go on behind the answer, and absence has no event to wait for: a second for work
    # that would, then the counts again.
    time.sleep(1)
    return Refusal(refused.value, took, before, after, fuzz_target.counts())


# The same shape elsewhere (issue 17 item 3, R21b over R34, R41): every other list of a request — the
# batches answered element by element (registration rows, check targets, a school order's students) and
# every other repeated field (a settlement file's records, an order's items, evidence, years) — sent at
# 10,000 and 100,000 elements where that is over its cap: refused whole before any element is read, in
# under a second, and nothing written, at the answer or a second later. NotifyPayments has its own test
# above (its refusal is one record, R21b).
# The counts at the last over-cap answer, for the next case (and the last check) to compare with.
_LAST_ANSWER: dict[str, dict[str, int]] = {}
REQUEST_BYTES = {"registration": REGISTRATION_BYTES, "enrollment": ENROLLMENT_BYTES, "collection": COLLECTION_BYTES}


LISTS = [
    (service, method, field, elements)
    for service, method in METHODS
    if method.name not in NOTIFYING
    for field in method.input_type.fields
    if field.is_repeated and not (field.message_type and field.message_type.GetOptions().map_entry)
    for elements in OVER_CAP[1:]
    if elements > max_items(field)
]


@pytest.mark.parametrize(
    ("service", "method", "field", "elements"),
    LISTS,
    ids=[f"{m.name}.{f.name}-{n}" for _, m, f, n in LISTS],
)
def test_every_other_over_cap_list_is_refused_at_once_and_writes_nothing(
    fuzz_target: FuzzTarget, service: str, method: MethodDescriptor, field: FieldDescriptor, elements: int
) -> None:
    call = fuzz_target.channels[service].unary_unary(f"/{SERVICES[service].full_name}/{method.name}", None, None)
    request = GetMessageClass(method.input_type)()
    getattr(request, field.name).extend([smallest(field)] * elements)
    body = request.SerializeToString()
    refused = _refused_at_once(fuzz_target, call, body, settle=False)
    error, took, before, after = refused.call, refused.took, refused.before, refused.after
    # What the case before this one left at its answer is what this one finds: nothing went on after it.
    if _LAST_ANSWER:
        assert before == _LAST_ANSWER["counts"], "the server went on writing after the last over-cap answer"
    _LAST_ANSWER["counts"] = after
    print(  # noqa: T201 - the figures of make fuzz
        f"\nover-cap {method.name}.{field.name} of {elements:,} ({len(body):,} bytes): "
        f"{error.code().name} in {took:.3f} s"
    )
    code = _check_refusal(refused.error, method.name)
    # Larger than the service accepts: refused by the transport; else by the edge, naming the list.
    if len(body) > REQUEST_BYTES[service]:
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, error.details())
        status = _status(refused.error)
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in status.details)
        # The list is named (another envelope field, e.g. a required purpose, may be named first).
        assert field.name in [v.field for v in bad.field_violations], bad
    assert took < 1.0, f"refusing {elements:,} elements of {method.name}.{field.name} took {took:.2f} s"
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, f"{method.name} over its cap wrote {changed}"
    fuzz_target.codes[code.name] += 1


def test_nothing_goes_on_after_the_last_over_cap_answer(fuzz_target: FuzzTarget) -> None:
    """The cases above each find what the one before left at its answer; the last one is given a second."""
    if not _LAST_ANSWER:
        pytest.fail("no over-cap list was sent: run the cases above with this test")
    time.sleep(1)  # absence has no event to wait for: a second for work that would go on
    assert fuzz_target.counts() == _LAST_ANSWER["counts"], "the server went on writing after it answered"


def test_every_service_is_healthy_after_the_run(fuzz_target: FuzzTarget) -> None:
    fuzz_target.healthy()
    calls_made = sum(fuzz_target.codes.values())
    assert calls_made >= max(MIN_CALLS, len(METHODS)), f"only {calls_made} calls"
    assert not {c for c in fuzz_target.codes if c in {"INTERNAL", "UNKNOWN"}}
