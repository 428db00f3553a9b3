"""R35 end to end over mutual TLS: the real processes require client certificates, each caller is the
identity of its certificate, and the authorization table decides before any handler runs.

This module runs a system of its own, with TLS on; the rest of the suite runs plaintext."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg
from medins.trail.v1 import person_trail_service_pb2 as trail
from medins.trail.v1 import person_trail_service_pb2_grpc as trail_grpc

from benchmarks import load_mix
from ops.certs import make_certs
from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.requests import new_request_id, register
from tests.e2e.system import NO_CERTIFICATE, ROOT, System, running_system
from tests.e2e.test_medins_cli import medins
from tests.factories import unique_resident_id
from tests.infra import Stack
from tests.support import eventually, refused

HOSPITAL = "hospital:demo-hospital"
WECHAT = "channel:wechat"
ALIPAY = "channel:alipay"
DESK = "registration:front-desk"
TAX = "tax:collection-desk"
OFFICER = "officer:demo-officer"


@pytest.fixture(scope="module")
async def tls_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    workdir = Path(tmp_path_factory.mktemp("mtls"))
    make_certs(workdir / "certs")
    async with running_system(Stack("mtls"), workdir, START, tls_dir=workdir / "certs") as running:
        yield running


@pytest.fixture(autouse=True)
def clock_at_start(tls_system: System) -> None:
    """Replaces the suite's plaintext system here: this module needs only its own."""
    tls_system.set_clock(START)


def collection(system: System, identity: str) -> CollectionClient:
    return CollectionClient(system.channel("collection", identity))


def registration(system: System, identity: str) -> RegistrationClient:
    return RegistrationClient(system.channel("registration", identity))


def enrollment(system: System, identity: str) -> EnrollmentClient:
    return EnrollmentClient(system.channel("enrollment", identity))


async def payable_order(system: System) -> tuple[str, col.Order]:
    """A person registered at the insurance desk and an order the tax desk made for their items."""
    number, name = unique_resident_id(), "郑一"
    await registration(system, DESK).RegisterResident(register(number, name=name))

    async def assessed() -> list[col.PayableItem]:
        reply = await collection(system, TAX).ListPayableItems(
            col.ListPayableItemsRequest(payer_id_number=number, insured_id_number=number, insured_name=name)
        )
        assert reply.payable_items
        return list(reply.payable_items)

    items = await eventually(assessed)
    reply = await collection(system, TAX).CreateOrder(
        col.CreateOrderRequest(
            request_id=new_request_id(), payer_id_number=number, payable_item_ids=[i.payable_item_id for i in items]
        )
    )
    return number, reply.order


def wechat_notification(order: col.Order, request_id: str | None = None) -> col.NotifyPaymentRequest:
    payload = channels.wechat(order.order_id, order.total_fen, START)
    return channels.notification(Channel.WECHAT, payload, request_id=request_id)


async def test_without_a_client_certificate_a_call_is_refused(tls_system: System) -> None:
    request = reg.ListRegionsRequest()
    with pytest.raises(grpc.aio.AioRpcError) as no_certificate:
        await registration(tls_system, NO_CERTIFICATE).ListRegions(request, timeout=5)
    assert no_certificate.value.code() is grpc.StatusCode.UNAVAILABLE
    plaintext = grpc.aio.insecure_channel(tls_system.address("registration"))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as no_tls:
            await RegistrationClient(plaintext).ListRegions(request, timeout=5)
        assert no_tls.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await plaintext.close(None)
    # The same call with a certificate of a caller allowed to make it is answered.
    assert (await registration(tls_system, OFFICER).ListRegions(request, timeout=5)).regions


async def test_a_hospital_may_not_notify_a_payment_and_the_refusal_is_audited(tls_system: System) -> None:
    _, order = await payable_order(tls_system)
    failure = await refused(collection(tls_system, HOSPITAL).NotifyPayment(wechat_notification(order)))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")
    # Refused before the handler: the notification was not even recorded.
    sql = "SELECT count(*) FROM channel_notifications WHERE order_id = $1"
    stored = await tls_system.value("tax", sql, order.order_id)
    assert stored == 0
    audit = [line for line in tls_system.log_text("collection").splitlines() if '"rpc_permission_denied"' in line]
    assert any(HOSPITAL in line and "NotifyPayment" in line and "CALLER_NOT_ALLOWED" in line for line in audit)


async def test_a_hospital_checks_as_a_hospital_only(tls_system: System) -> None:
    target = chk.CheckTarget(resident_id_number=unique_resident_id(), insurance_year=2024)
    as_tax = chk.CheckEnrollmentRequest(caller_id="h1", purpose=chk.CHECK_PURPOSE_TAX_COLLECTION, target=target)
    failure = await refused(enrollment(tls_system, HOSPITAL).CheckEnrollment(as_tax))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_NOT_ALLOWED")
    as_hospital = chk.CheckEnrollmentRequest(
        caller_id="h1", purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT, target=target
    )
    reply = await enrollment(tls_system, HOSPITAL).CheckEnrollment(as_hospital)
    assert reply.result.status == chk.CHECK_STATUS_NOT_ENROLLED


async def test_a_resident_looks_themselves_up_through_a_channel_and_a_hospital_may_not(tls_system: System) -> None:
    """R48, R35: GetMyEnrollment is a resident's own look-up through the channel (or e-tax) that
    authenticated them; a hospital's certificate is refused before any handler runs, so nothing is on the
    person's trail for it; the channel's call is answered and on the trail under the channel's identity."""
    number = unique_resident_id()
    request = chk.GetMyEnrollmentRequest(resident_id_number=number, insurance_years=[START.year])
    failure = await refused(enrollment(tls_system, HOSPITAL).GetMyEnrollment(request))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")
    reply = await enrollment(tls_system, WECHAT).GetMyEnrollment(request)
    assert [(r.insurance_year, r.status) for r in reply.results] == [(START.year, chk.CHECK_STATUS_NOT_ENROLLED)]
    assert (await enrollment(tls_system, TAX).GetMyEnrollment(request)).results  # e-tax, as the tax desk
    listed = await trail_grpc.PersonTrailServiceStub(tls_system.channel("registration", OFFICER)).ListPersonTrail(
        trail.ListPersonTrailRequest(resident_id_number=number)
    )
    assert [(e.caller, e.method, e.request_id) for e in listed.entries] == [
        (WECHAT, "GetMyEnrollment", f"years={START.year}"),
        (TAX, "GetMyEnrollment", f"years={START.year}"),
    ]


async def test_a_channel_notifies_for_its_own_channel_only(tls_system: System) -> None:
    _, order = await payable_order(tls_system)
    as_alipay = channels.notification(Channel.ALIPAY, channels.alipay(order.order_id, order.total_fen, START))
    failure = await refused(collection(tls_system, WECHAT).NotifyPayment(as_alipay))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CHANNEL_NOT_OWN")
    applied = await collection(tls_system, WECHAT).NotifyPayment(wechat_notification(order))
    assert applied.outcome == col.NOTIFICATION_OUTCOME_APPLIED and applied.receipt_number


async def test_a_batch_of_notifications_is_refused_before_its_handler_for_a_foreign_channel(tls_system: System) -> None:
    _, order = await payable_order(tls_system)
    as_alipay = channels.notification(Channel.ALIPAY, channels.alipay(order.order_id, order.total_fen, START))
    notifications = [wechat_notification(order), as_alipay]
    batch = col.NotifyPaymentsRequest(request_id=new_request_id(), notifications=notifications)
    failure = await refused(collection(tls_system, WECHAT).NotifyPayments(batch))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CHANNEL_NOT_OWN")
    failure = await refused(collection(tls_system, HOSPITAL).NotifyPayments(batch))
    assert (failure.code, failure.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")


async def test_request_ids_of_two_callers_do_not_collide(tls_system: System) -> None:
    (_, first), (_, second) = await payable_order(tls_system), await payable_order(tls_system)
    shared = new_request_id()
    by_wechat = await collection(tls_system, WECHAT).NotifyPayment(wechat_notification(first, shared))
    alipay = channels.notification(
        Channel.ALIPAY, channels.alipay(second.order_id, second.total_fen, START), request_id=shared
    )
    by_alipay = await collection(tls_system, ALIPAY).NotifyPayment(alipay)
    assert by_wechat.outcome == by_alipay.outcome == col.NOTIFICATION_OUTCOME_APPLIED
    assert (by_wechat.order_id, by_alipay.order_id) == (first.order_id, second.order_id)
    # Within one caller the id still means one request: the same id for another order is refused.
    again = await refused(collection(tls_system, WECHAT).NotifyPayment(wechat_notification(second, shared)))
    assert (again.code, again.reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")


async def test_officers_read_who_did_what_to_a_persons_records(tls_system: System) -> None:
    number, order = await payable_order(tls_system)
    await collection(tls_system, WECHAT).NotifyPayment(wechat_notification(order))
    request = trail.ListPersonTrailRequest(resident_id_number=number)
    insurance = await trail_grpc.PersonTrailServiceStub(tls_system.channel("registration", OFFICER)).ListPersonTrail(
        request
    )
    assert [(e.caller, e.method) for e in insurance.entries] == [(DESK, "RegisterResident")]
    tax = await trail_grpc.PersonTrailServiceStub(tls_system.channel("collection", OFFICER)).ListPersonTrail(request)
    assert (TAX, "CreateOrder") in [(e.caller, e.method) for e in tax.entries]
    denied = await refused(
        trail_grpc.PersonTrailServiceStub(tls_system.channel("collection", HOSPITAL)).ListPersonTrail(request)
    )
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")


async def test_the_payment_made_it_all_the_way_to_coverage_under_mtls(tls_system: System) -> None:
    number, order = await payable_order(tls_system)
    await collection(tls_system, WECHAT).NotifyPayment(wechat_notification(order))

    async def covered() -> None:
        reply = await enrollment(tls_system, HOSPITAL).CheckEnrollment(
            chk.CheckEnrollmentRequest(
                caller_id="h1",
                purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
                target=chk.CheckTarget(resident_id_number=number, insurance_year=START.year + 1),
            )
        )
        assert reply.result.status == chk.CHECK_STATUS_COVERED

    await eventually(covered)


async def test_a_channel_notifies_a_batch_of_its_own(tls_system: System) -> None:
    (_, first), (_, second) = await payable_order(tls_system), await payable_order(tls_system)
    notifications = [wechat_notification(first), wechat_notification(second)]
    batch = col.NotifyPaymentsRequest(request_id=new_request_id(), notifications=notifications)
    reply = await collection(tls_system, WECHAT).NotifyPayments(batch)
    assert [r.response.outcome for r in reply.results] == [col.NOTIFICATION_OUTCOME_APPLIED] * 2


async def test_the_operator_cli_speaks_mutual_tls_as_its_configured_identity(tls_system: System) -> None:
    """`medins` presents MEDINS_TLS_IDENTITY's certificate: an operator lists the policies; the same
    command as a hospital is refused PERMISSION_DENIED in one line, without a traceback."""
    listed = await medins(tls_system, "policies", "list")
    assert listed.returncode == 0, listed.stderr
    assert "340800" in listed.stdout
    denied = await medins(tls_system, "policies", "list", env={"MEDINS_TLS_IDENTITY": HOSPITAL})
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr, denied.stderr


async def test_the_check_audit_names_the_certificate_and_keeps_the_caller_id_as_a_note(tls_system: System) -> None:
    """Issue 17 (R35, R41): a hospital's certificate checking with caller_id "officer:someone" is audited as
    the hospital, the claim kept beside it; the record is there as soon as the answer is."""
    number, claimed = unique_resident_id(), "officer:someone"
    await enrollment(tls_system, HOSPITAL).CheckEnrollment(
        chk.CheckEnrollmentRequest(
            caller_id=claimed,
            purpose=chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
            target=chk.CheckTarget(resident_id_number=number),
        )
    )
    rows = await tls_system.query(
        "insurance",
        "SELECT caller, caller_note FROM enrollment_check_audit WHERE $1 = ANY(resident_id_numbers)",
        number,
    )
    assert [tuple(r) for r in rows] == [(HOSPITAL, claimed)]


async def test_a_channel_reports_the_result_of_its_own_refunds_only(tls_system: System) -> None:
    """Issue 17 (R35, R41): NotifyRefundResult from another channel is refused and changes nothing; the
    refund's own channel settles it."""
    _, order = await payable_order(tls_system)
    paid = await collection(tls_system, WECHAT).NotifyPayment(wechat_notification(order))
    refund = (
        await collection(tls_system, TAX).RequestRefund(
            col.RequestRefundRequest(request_id=new_request_id(), payment_id=paid.payment_id, requested_by="o-7")
        )
    ).refund

    async def submitted() -> col.Refund:
        got = (await collection(tls_system, TAX).GetRefund(col.GetRefundRequest(refund_id=refund.refund_id))).refund
        assert got.status == col.REFUND_STATUS_SUBMITTED
        return got

    sent = await eventually(submitted, timeout=30)
    result = col.NotifyRefundResultRequest(
        request_id=new_request_id(),
        refund_id=refund.refund_id,
        channel_refund_id=sent.channel_refund_id,
        succeeded=True,
    )
    foreign = await refused(collection(tls_system, ALIPAY).NotifyRefundResult(result))
    assert (foreign.code, foreign.reason) == (grpc.StatusCode.PERMISSION_DENIED, "REFUND_NOT_OWN")
    unchanged = (await collection(tls_system, TAX).GetRefund(col.GetRefundRequest(refund_id=refund.refund_id))).refund
    assert unchanged.status == col.REFUND_STATUS_SUBMITTED
    own = await collection(tls_system, WECHAT).NotifyRefundResult(result)
    assert own.refund.status == col.REFUND_STATUS_SUCCEEDED


async def test_the_trail_shows_the_identity_and_what_the_request_said_and_medins_prints_both(
    tls_system: System,
) -> None:
    number = unique_resident_id()
    pending = (await registration(tls_system, DESK).RegisterResident(register(number, region="341800"))).enrollment
    await registration(tls_system, OFFICER).ApproveRegistration(
        reg.ApproveRegistrationRequest(
            request_id=new_request_id(), enrollment_id=pending.enrollment_id, officer_id="demo-officer"
        )
    )
    listed = await trail_grpc.PersonTrailServiceStub(tls_system.channel("registration", OFFICER)).ListPersonTrail(
        trail.ListPersonTrailRequest(resident_id_number=number)
    )
    assert [(e.caller, e.caller_note, e.method) for e in listed.entries] == [
        (DESK, "", "RegisterResident"),
        (OFFICER, "officer_id=demo-officer", "ApproveRegistration"),
    ]
    shown = await medins(tls_system, "trail", number, env={"MEDINS_TLS_IDENTITY": OFFICER})
    assert shown.returncode == 0, shown.stderr
    approval = next(line for line in shown.stdout.splitlines() if "ApproveRegistration" in line)
    assert OFFICER in approval and "officer_id=demo-officer" in approval and "insurance" in approval
    assert number not in shown.stdout  # the number is shown masked


@pytest.mark.timeout(300)
async def test_the_loadtest_identity_plays_the_load_mix_under_mutual_tls(tls_system: System, tmp_path: Path) -> None:
    """Issue 17: the load tool presents loadtest:bench's certificate and every operation of the mix is
    admitted (it registers, orders, pays, checks and reads records as that one identity)."""
    command = [
        *(sys.executable, "-m", "benchmarks.load_tool", "--out", str(tmp_path)),
        *("--rate", "20", "--duration", "4", "--people", "40", "--seed", "7", "--batch-size", "10"),
        *("--mix", "check=2,batch_check=1,payer_lookup=1,order=3,pay=3,resend=1,late_pay=2,records=1"),
        *("--audit-wait", "90"),
    ]
    done = await asyncio.to_thread(
        subprocess.run, command, env=tls_system.env, cwd=ROOT, capture_output=True, text=True, timeout=280
    )
    results = json.loads((tmp_path / "results.json").read_text())
    rows = {r["operation"]: r for r in results["operations"]}
    assert rows["all"]["errors"] == {}, done.stdout + done.stderr
    assert set(rows) == {*load_mix.OPERATIONS, "all"}, rows.keys()
    assert done.returncode == 0, done.stdout + done.stderr
    callers = await tls_system.query("tax", "SELECT DISTINCT caller FROM person_trail WHERE method = 'CreateOrder'")
    assert ("loadtest:bench",) in [tuple(r) for r in callers]


async def test_the_kubernetes_probe_presents_a_probe_identity_that_gets_health_and_nothing_else(
    tls_system: System,
) -> None:
    """Issue 24: the production overlay's exec probes run ops.grpc_health_probe in the container with
    MEDINS_TLS_IDENTITY=probe:kubelet; it is answered SERVING, and the same identity may call no RPC."""
    certs = tls_system.tls
    assert certs is not None
    env = {
        **tls_system.env,
        "MEDINS_ENVIRONMENT": "production",
        "MEDINS_CHANNEL_SECRET": "c" * 40,
        "MEDINS_PAGE_TOKEN_KEY": "p" * 40,
        "MEDINS_TLS_IDENTITY": "probe:kubelet",
    }
    for name, service in (("collection", "medins.collection.v1.CollectionService"), ("registration", "")):
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ops.grpc_health_probe", tls_system.address(name), "--service", service, env=env
        )
        assert await probe.wait() == 0, name
    denied = await refused(registration(tls_system, "probe:kubelet").ListRegions(reg.ListRegionsRequest()))
    assert (denied.code, denied.reason) == (grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED")
    without = {**env, "MEDINS_TLS_IDENTITY": "probe:unissued"}  # no certificate of that name: the probe fails
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.grpc_health_probe",
        tls_system.address("collection"),
        env=without,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await probe.wait() != 0


@pytest.mark.parametrize("identity", [OFFICER, "operator:local"])
async def test_an_officer_explains_a_persons_standing_with_medins_person_under_mutual_tls(
    tls_system: System, identity: str
) -> None:
    """Issue 18 item 8 (R35): `medins person` reads both agencies (coverage, orders, payment records,
    refunds) as the officer or operator it runs as; none of its reads is refused under mutual TLS."""
    number, order = await payable_order(tls_system)
    shown = await medins(tls_system, "person", number, env={"MEDINS_TLS_IDENTITY": identity})
    assert shown.returncode == 0, shown.stderr
    assert f"order {order.order_id}: PENDING" in shown.stdout, shown.stdout
    denied = await medins(tls_system, "person", number, env={"MEDINS_TLS_IDENTITY": HOSPITAL})
    assert denied.returncode == 1 and "PERMISSION_DENIED" in denied.stderr, denied.stderr
