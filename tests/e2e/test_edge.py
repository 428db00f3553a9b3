"""R34 and R21b end to end, over gRPC against the real services: bad input is answered at the edge with
INVALID_ARGUMENT naming the field (never INTERNAL or UNKNOWN), nothing is written, trailers stay small,
and every payment notification is stored with its outcome however it was refused."""

from __future__ import annotations

import json

import grpc
import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from services.collection.domain.model import Channel
from tests.e2e.channels import notification
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.requests import new_request_id
from tests.e2e.system import System
from tests.factories import unique_resident_id
from tests.support import failure, refused, trailing


def _check(caller_id: str) -> chk.CheckEnrollmentRequest:
    return chk.CheckEnrollmentRequest(
        caller_id=caller_id,
        purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
        target=chk.CheckTarget(resident_id_number=unique_resident_id()),
    )


async def test_a_nul_caller_id_is_refused_and_auditing_goes_on(system: System, enrollment: EnrollmentClient) -> None:
    """Regression (issue 9): one call with a NUL in caller_id used to switch the audit trail off."""
    poisoned = await refused(enrollment.CheckEnrollment(_check("hospital\x00-evil")))
    assert (poisoned.code, poisoned.reason, poisoned.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "CONTROL_CHARACTER",
        ["caller_id"],
    )
    for caller in ("after-nul-1", "after-nul-2"):
        await enrollment.CheckEnrollment(_check(caller))

    # Recorded before they were answered (issue 17): no waiting for a flush.
    notes = {r[0] for r in await system.query("insurance", "SELECT caller_note FROM enrollment_check_audit")}
    assert {"after-nul-1", "after-nul-2"} <= notes
    assert not any("\x00" in c or "evil" in c for c in notes)


SERVICES = {
    "registration": reg.DESCRIPTOR.services_by_name["RegistrationService"],
    "enrollment": chk.DESCRIPTOR.services_by_name["EnrollmentCheckService"],
    "collection": col.DESCRIPTOR.services_by_name["CollectionService"],
}


async def _raw_call(system: System, service: str, method: str, body: bytes) -> grpc.aio.AioRpcError:
    call = system.channel(service).unary_unary(f"/{SERVICES[service].full_name}/{method}", None, None)
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await call(body, timeout=10)
    return refusal.value


@pytest.mark.parametrize(
    "body",
    [b"\xff\xff\xff\xff", b"\x0a\x05\xff\xfe\xfd\xfc\xfb", b"\x0a" + b"\x0a\x7f" * 10],
    ids=["garbage", "invalid UTF-8 in a string", "truncated"],
)
async def test_bytes_that_do_not_parse_are_malformed_request_on_every_service(system: System, body: bytes) -> None:
    for service, descriptor in SERVICES.items():
        for method in [m.name for m in descriptor.methods][:4]:
            error = failure(await _raw_call(system, service, method, body))
            assert (error.code, error.reason, error.fields) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "MALFORMED_REQUEST",
                ["request"],
            ), (service, method)


async def test_a_huge_value_gets_a_short_answer_and_nothing_is_written(
    system: System, registration: RegistrationClient
) -> None:
    before = await system.value("insurance", "SELECT count(*) FROM external_enrollments")
    request = reg.RecordExternalEnrollmentRequest(
        request_id=new_request_id(), resident_id_number=unique_resident_id(), name="名" * 500_000
    )
    with pytest.raises(grpc.aio.AioRpcError) as refusal:
        await registration.RecordExternalEnrollment(request)
    error = failure(refusal.value)
    assert (error.code, error.reason, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_TOO_LONG", ["name"])
    assert sum(len(k) + len(v) for k, v in trailing(refusal.value)) < 8 * 1024
    assert "名名名" not in (refusal.value.details() or "")
    assert await system.value("insurance", "SELECT count(*) FROM external_enrollments") == before
    too_big = reg.RecordExternalEnrollmentRequest(request_id=new_request_id(), name="x" * 4_000_000)
    assert (await refused(registration.RecordExternalEnrollment(too_big))).code == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_tampered_page_token_is_refused(registration: RegistrationClient, collection: CollectionClient) -> None:
    page = await registration.ListRegions(reg.ListRegionsRequest(page_size=1))
    payload, mac = page.next_page_token.split(".")
    tampered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + mac
    error = await refused(registration.ListRegions(reg.ListRegionsRequest(page_size=1, page_token=tampered)))
    assert (error.code, error.reason, error.fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
        ["page_token"],
    )
    foreign = await refused(collection.ListRefunds(col.ListRefundsRequest(page_token=page.next_page_token)))
    assert foreign.reason == "INVALID_PAGE_TOKEN"


def _signed(payload: bytes, channel: Channel = Channel.E_TAX) -> col.NotifyPaymentRequest:
    return notification(channel, payload)


HOSTILE_PAYLOADS = {
    "nested": b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    "amount 2^63": json.dumps({"order_id": "o", "transaction_id": "t", "amount_fen": 2**63}).encode(),
    "5,000 digits": b'{"amount_fen": ' + b"9" * 5_000 + b"}",
    "year 9999": json.dumps(
        {"order_id": "o", "transaction_id": "t", "amount_fen": 1, "paid_at": "9999-12-31T23:59:59-14:00"}
    ).encode(),
    "surrogate": json.dumps({"order_id": "o", "transaction_id": "\ud800", "amount_fen": 1}).encode(),
}


async def test_every_notification_is_stored_with_its_outcome_however_it_is_refused(
    system: System, collection: CollectionClient
) -> None:
    """R21b: malformed payloads, wrong or hostile signatures, fields refused at the edge, bytes that are no
    request at all: each is answered INVALID_ARGUMENT or UNAUTHENTICATED and each leaves one stored row."""
    sent: list[tuple[str, str]] = []
    for name, payload in HOSTILE_PAYLOADS.items():
        error = await refused(collection.NotifyPayment(_signed(payload)))
        assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_NOTIFICATION"), name
        sent.append((name, "MALFORMED"))
    wrong = col.NotifyPaymentRequest(
        request_id=new_request_id(),
        channel=common_pb2.PAYMENT_CHANNEL_E_TAX,
        payload=HOSTILE_PAYLOADS["amount 2^63"],
        signature="签名",
    )
    error = await refused(collection.NotifyPayment(wrong))
    assert (error.code, error.fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["signature"])
    sent.append(("non-ASCII signature", "SIGNATURE_INVALID"))
    unsigned = col.NotifyPaymentRequest(
        request_id=new_request_id(), channel=common_pb2.PAYMENT_CHANNEL_E_TAX, payload=b"{}", signature="00" * 32
    )
    assert (await refused(collection.NotifyPayment(unsigned))).code == grpc.StatusCode.UNAUTHENTICATED
    sent.append(("wrong signature", "SIGNATURE_INVALID"))
    no_channel = col.NotifyPaymentRequest(request_id=new_request_id(), payload=b"{}", signature="ab")
    assert (await refused(collection.NotifyPayment(no_channel))).fields == ["channel"]
    sent.append(("no channel", "MALFORMED"))
    error = failure(await _raw_call(system, "collection", "NotifyPayment", b"\x1a\x03\xff\xfe"))
    assert error.reason == "MALFORMED_REQUEST"
    sent.append(("not a request", "MALFORMED"))

    rows = await system.query(
        "tax",
        "SELECT outcome, payload_size, payload_sample, detail FROM channel_notifications "
        "ORDER BY notification_id DESC LIMIT $1",
        len(sent),
    )
    assert [r["outcome"] for r in reversed(rows)] == [outcome for _, outcome in sent]
    assert all(r["payload_size"] is not None and r["detail"] for r in rows)
    assert all(len(r["payload_sample"]) <= 256 and "\x00" not in r["payload_sample"] for r in rows)
