"""R35: each service's table says which caller may call which of its RPCs; the call policy applies it
before any handler."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from medins.collection.v1 import collection_service_pb2 as col
from medins.collection.v1 import collection_service_pb2_grpc as col_grpc
from medins.common.v1 import common_pb2
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg
from medins.trail.v1 import person_trail_service_pb2 as trail

from services.collection import access as collection_access
from services.collection.access import ChannelFacts, own_refund
from services.common import person_trail_api
from services.common.authorization import NO_FACTS, AccessTable, Denial, Facts
from services.common.call_policy import policed_handlers
from services.common.caller_authorization import CallAuthorization
from services.common.errors import PermissionDenied
from services.common.identity import (
    IN_PROCESS,
    CallerKind,
    Identity,
    InvalidIdentity,
    bind_caller,
    current_caller,
    parse_identity,
)
from services.common.pagination import PageTokens
from services.common.settings import Settings
from services.common.tls import Callers, identity_from_auth_context
from services.enrollment import access as enrollment_access
from services.enrollment.access import PurposeFacts
from services.registration import access as registration_access
from tests.unit.test_architecture import FORBIDDEN, ROOT, _transitive
from tests.unit.test_call_policy_failures import Aborted
from tests.unit.test_call_policy_failures import FakeContext as CallFakeContext

SERVICES = [
    reg.DESCRIPTOR.services_by_name["RegistrationService"],
    chk.DESCRIPTOR.services_by_name["EnrollmentCheckService"],
    col.DESCRIPTOR.services_by_name["CollectionService"],
    trail.DESCRIPTOR.services_by_name["PersonTrailService"],
]
EVERY_RPC = [f"/{service.full_name}/{method.name}" for service in SERVICES for method in service.methods]
# The table each service hands the platform (its composition root passes it to run_grpc_service).
TABLES: dict[str, AccessTable] = {
    table.service: table
    for table in (
        registration_access.ACCESS,
        enrollment_access.ACCESS,
        collection_access.ACCESS,
        person_trail_api.ACCESS,
    )
}

COL = "/medins.collection.v1.CollectionService/"
CHK = "/medins.enrollment.v1.EnrollmentCheckService/"
REG = "/medins.registration.v1.RegistrationService/"

HOSPITAL = Identity(CallerKind.HOSPITAL, "h1")
WECHAT = Identity(CallerKind.CHANNEL, "wechat")
OFFICER = Identity(CallerKind.OFFICER, "wang")


def notify(channel: int) -> col.NotifyPaymentRequest:
    return col.NotifyPaymentRequest(request_id="r", channel=channel, payload=b"{}", signature="s")  # type: ignore[arg-type]


def check(purpose: int) -> chk.CheckEnrollmentRequest:
    return chk.CheckEnrollmentRequest(caller_id="h1", purpose=purpose)  # type: ignore[arg-type]


def table_of(rpc: str) -> tuple[AccessTable, str]:
    service, method = rpc.strip("/").split("/")
    return TABLES[service], method


def authorize(identity: Identity, rpc: str, facts: Facts = NO_FACTS) -> Denial | None:
    """The decision of the table of `rpc`'s service (`/package.Service/Method`)."""
    table, method = table_of(rpc)
    return table.authorize(identity, method, facts)


def decide(identity: Identity, rpc: str, request: Any) -> str | None:
    table, method = table_of(rpc)
    denial = table.authorize(identity, method, table.facts(request))
    return None if denial is None else denial.reason


@pytest.mark.parametrize("rpc", EVERY_RPC)
def test_every_rpc_of_every_service_has_an_entry(rpc: str) -> None:
    table, method = table_of(rpc)
    assert table.grants.get(method), f"{rpc} is missing from its service's access table"


def test_the_tables_name_no_rpc_that_does_not_exist() -> None:
    named = {f"/{table.service}/{method}" for table in TABLES.values() for method in table.grants}
    assert named - set(EVERY_RPC) == set()
    assert set(TABLES) == {service.full_name for service in SERVICES}


def test_the_call_policy_refuses_to_serve_a_service_whose_table_misses_a_method() -> None:
    tokens = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
    grants = dict(collection_access.GRANTS)
    del grants["NotifyPayments"]
    partial = AccessTable(collection_access.ACCESS.service, grants)
    servicer = type("_Nothing", (col_grpc.CollectionServiceServicer,), {})()
    with pytest.raises(ValueError, match="NotifyPayments"):
        policed_handlers(
            servicer,
            collection_access.SERVICE,
            col_grpc.add_CollectionServiceServicer_to_server,
            frozenset(),
            tokens,
            MTLS,
            access=partial,
        )


def test_every_kind_of_caller_may_call_something_but_a_probe_nothing() -> None:
    """A probe asks health only (answered to any caller the transport admits, issue 24)."""
    granted = {grant.kind for table in TABLES.values() for grants in table.grants.values() for grant in grants}
    assert granted == set(CallerKind) - {CallerKind.LOCAL, CallerKind.PROBE}


def test_a_hospital_may_not_notify_a_payment() -> None:
    assert decide(HOSPITAL, COL + "NotifyPayment", notify(common_pb2.PAYMENT_CHANNEL_WECHAT)) == "CALLER_NOT_ALLOWED"


def test_a_hospital_checks_only_with_the_hospital_purpose() -> None:
    assert decide(HOSPITAL, CHK + "CheckEnrollment", check(chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT)) is None
    for other in (chk.CHECK_PURPOSE_TAX_COLLECTION, chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION, 0, 99):
        assert decide(HOSPITAL, CHK + "CheckEnrollment", check(other)) == "PURPOSE_NOT_ALLOWED"
    batch = chk.BatchCheckEnrollmentsRequest(caller_id="h1", purpose=chk.CHECK_PURPOSE_TAX_COLLECTION)
    assert decide(HOSPITAL, CHK + "BatchCheckEnrollments", batch) == "PURPOSE_NOT_ALLOWED"


def test_each_checker_has_its_own_purpose() -> None:
    own = {
        CallerKind.HOSPITAL: chk.CHECK_PURPOSE_HOSPITAL_SETTLEMENT,
        CallerKind.TAX: chk.CHECK_PURPOSE_TAX_COLLECTION,
        CallerKind.CITY: chk.CHECK_PURPOSE_CROSS_REGION_REGISTRATION,
        CallerKind.OFFICER: chk.CHECK_PURPOSE_INSURANCE_ADMINISTRATION,
    }
    for kind, purpose in own.items():
        for asked in own.values():
            expected = None if asked == purpose else "PURPOSE_NOT_ALLOWED"
            assert decide(Identity(kind, "x"), CHK + "CheckEnrollment", check(asked)) == expected


def test_a_channel_notifies_for_itself_only() -> None:
    assert decide(WECHAT, COL + "NotifyPayment", notify(common_pb2.PAYMENT_CHANNEL_WECHAT)) is None
    assert decide(WECHAT, COL + "NotifyPayment", notify(common_pb2.PAYMENT_CHANNEL_ALIPAY)) == "CHANNEL_NOT_OWN"
    assert decide(WECHAT, COL + "NotifyPayment", notify(0)) == "CHANNEL_NOT_OWN"
    bank_app = Identity(CallerKind.CHANNEL, "bank_app")
    assert decide(bank_app, COL + "NotifyPayment", notify(common_pb2.PAYMENT_CHANNEL_BANK_APP)) is None


def test_a_batch_of_notifications_is_refused_if_any_is_for_another_channel() -> None:
    own = notify(common_pb2.PAYMENT_CHANNEL_WECHAT)
    batch = col.NotifyPaymentsRequest(request_id="b", notifications=[own, own])
    assert decide(WECHAT, COL + "NotifyPayments", batch) is None
    batch.notifications.append(notify(common_pb2.PAYMENT_CHANNEL_ALIPAY))
    assert decide(WECHAT, COL + "NotifyPayments", batch) == "CHANNEL_NOT_OWN"


def test_only_officers_approve_or_reject_and_only_in_their_own_name() -> None:
    for method in ("ApproveRegistration", "RejectRegistration"):
        request = getattr(reg, f"{method}Request")(request_id="r", enrollment_id="e", officer_id="wang")
        assert decide(OFFICER, REG + method, request) is None
        other = getattr(reg, f"{method}Request")(request_id="r", enrollment_id="e", officer_id="li")
        assert decide(OFFICER, REG + method, other) == "OFFICER_ID_NOT_OWN"
        for kind in set(CallerKind) - {CallerKind.OFFICER, CallerKind.LOCAL}:
            assert decide(Identity(kind, "wang"), REG + method, request) == "CALLER_NOT_ALLOWED"


def test_the_development_identity_may_call_everything() -> None:
    local = Identity(CallerKind.LOCAL, "development")
    assert all(authorize(local, rpc, ChannelFacts(channels=("ALIPAY",))) is None for rpc in EVERY_RPC)


@pytest.mark.parametrize(
    "text", ["channel", "nobody:x", "channel:", "channel:WeChat", "channel:a b", "hospital:" + "x" * 65]
)
def test_an_identity_is_a_known_kind_and_a_plain_name(text: str) -> None:
    with pytest.raises(InvalidIdentity):
        parse_identity(text)


def test_a_certificate_names_its_caller_but_never_the_development_identity() -> None:
    assert identity_from_auth_context({"x509_common_name": [b"channel:wechat"]}) == WECHAT
    assert identity_from_auth_context({"x509_common_name": [b"local:development"]}) is None
    assert identity_from_auth_context({"x509_common_name": [b"not an identity"]}) is None
    assert identity_from_auth_context({"transport_security_type": [b"ssl"]}) is None


class FakeContext:
    def __init__(self, common_name: bytes | None) -> None:
        self._auth = {"x509_common_name": [common_name]} if common_name else {}

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


MTLS = Callers(tls=True, local=Identity(CallerKind.LOCAL, "development"))


async def run_in_own_context(step: Any) -> Any:
    """Each gRPC call runs in a task of its own; so does each step here (the caller binding is per task)."""
    return await asyncio.create_task(step())


async def test_the_call_policy_step_refuses_with_permission_denied_and_binds_an_admitted_caller() -> None:
    authorization = CallAuthorization(COL + "NotifyPayment", MTLS, collection_access.ACCESS)

    async def foreign() -> None:
        authorization.admit(notify(common_pb2.PAYMENT_CHANNEL_ALIPAY), FakeContext(b"channel:wechat"))

    with pytest.raises(PermissionDenied) as refused:
        await run_in_own_context(foreign)
    assert refused.value.reason == "CHANNEL_NOT_OWN"
    assert refused.value.metadata == {"caller": "channel:wechat", "method": "NotifyPayment"}

    async def own() -> Identity:
        authorization.admit(notify(common_pb2.PAYMENT_CHANNEL_WECHAT), FakeContext(b"channel:wechat"))
        return current_caller()

    assert await run_in_own_context(own) == WECHAT
    assert current_caller() == IN_PROCESS


async def test_a_caller_without_an_identity_is_refused() -> None:
    async def anonymous() -> None:
        CallAuthorization(REG + "ListRegions", MTLS, registration_access.ACCESS).admit(
            reg.ListRegionsRequest(), FakeContext(None)
        )

    with pytest.raises(PermissionDenied) as refused:
        await run_in_own_context(anonymous)
    assert refused.value.reason == "CALLER_UNKNOWN"


async def test_a_load_test_plays_the_mix_only_where_load_test_callers_are_admitted() -> None:
    """Issue 17: the loadtest identity plays the whole load mix under mTLS (registers, orders, pays,
    checks), on a system that admits load-test callers; one that does not (production by default)
    refuses it before anything else."""
    mix = [REG + "BatchRegisterResidents", COL + "ListPayableItems", COL + "CreateOrder", COL + "NotifyPayment"]
    loadtest = Identity(CallerKind.LOADTEST, "bench")
    for rpc in [*mix, COL + "ListPaymentRecords"]:
        assert authorize(loadtest, rpc, ChannelFacts(channels=("ALIPAY",))) is None, rpc
    assert authorize(loadtest, CHK + "CheckEnrollment", PurposeFacts(purpose="TAX_COLLECTION")) is None
    assert authorize(loadtest, COL + "RequestRefund") is not None

    async def admitted(callers: Callers) -> None:
        CallAuthorization(COL + "NotifyPayment", callers, collection_access.ACCESS).admit(
            notify(common_pb2.PAYMENT_CHANNEL_WECHAT), loadtest_ctx
        )

    loadtest_ctx = FakeContext(b"loadtest:bench")
    await run_in_own_context(lambda: admitted(MTLS))
    closed = Callers(tls=True, local=Identity(CallerKind.LOCAL, "development"), loadtest=False)
    with pytest.raises(PermissionDenied) as refused:
        await run_in_own_context(lambda: admitted(closed))
    assert refused.value.reason == "LOADTEST_CALLERS_NOT_ADMITTED"


def test_production_admits_load_test_callers_only_when_told_to() -> None:
    base = {"tls_required": True, "tls_dir": "/certs"}
    assert Settings(**base).admits_loadtest_callers  # type: ignore[arg-type]
    secrets = {"channel_keys_dir": "/etc/medins/channel-keys", "page_token_key": "p" * 32}
    production = Settings(environment="production", **base, **secrets)  # type: ignore[arg-type]
    assert not production.admits_loadtest_callers
    staging = Settings(environment="production", loadtest_callers=True, **base, **secrets)  # type: ignore[arg-type]
    assert staging.admits_loadtest_callers


def test_a_channel_reports_only_on_its_own_refunds() -> None:
    assert own_refund(WECHAT, "WECHAT") is None
    denial = own_refund(WECHAT, "ALIPAY")
    assert denial is not None and denial.reason == "REFUND_NOT_OWN"
    assert own_refund(IN_PROCESS, "ALIPAY") is None  # the system itself (tests driving the use case, workers)


def test_plaintext_calls_are_the_configured_local_identity() -> None:
    hospital = Callers(tls=False, local=HOSPITAL)
    assert hospital.of(FakeContext(b"channel:wechat")) == HOSPITAL
    bind_caller(IN_PROCESS)


def test_the_table_and_the_identity_are_pure_domain_code() -> None:
    for module in ("services/common/authorization.py", "services/common/identity.py"):  # the mechanism
        imported = _transitive(ROOT / module, set())
        assert not [m for m in imported if m.split(".")[0] in FORBIDDEN], module


class CertifiedContext(CallFakeContext):
    """The call policy's fake context, with the caller's certificate."""

    def __init__(self, common_name: bytes) -> None:
        super().__init__()
        self._auth = {"x509_common_name": [common_name]}

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth


async def test_the_call_policy_refuses_before_the_handler_even_of_an_rpc_not_built_yet() -> None:
    """NotifyPayments answers UNIMPLEMENTED until it is built; a caller who may not make the call is
    refused first, in the project's error format."""
    tokens = PageTokens(b"k" * 32, lambda: dt.datetime.now(dt.UTC), dt.timedelta(hours=1))
    handlers = policed_handlers(
        type("_Nothing", (col_grpc.CollectionServiceServicer,), {})(),
        col.DESCRIPTOR.services_by_name["CollectionService"],
        col_grpc.add_CollectionServiceServicer_to_server,
        frozenset(),
        tokens,
        MTLS,
        access=collection_access.ACCESS,
    )
    batch = col.NotifyPaymentsRequest(request_id="b", notifications=[notify(common_pb2.PAYMENT_CHANNEL_ALIPAY)])
    for caller, reason in ((b"channel:wechat", "CHANNEL_NOT_OWN"), (b"hospital:h1", "CALLER_NOT_ALLOWED")):
        context = CertifiedContext(caller)
        with pytest.raises(Aborted):
            await handlers["NotifyPayments"].unary_unary(batch, context)  # type: ignore[arg-type, misc]
        assert context.code is grpc.StatusCode.PERMISSION_DENIED
        status = status_pb2.Status.FromString(dict(context.trailers)["grpc-status-details-bin"])
        info = error_details_pb2.ErrorInfo()
        assert any(d.Unpack(info) for d in status.details) and info.reason == reason
    context = CertifiedContext(b"channel:alipay")
    with pytest.raises(Aborted):
        await handlers["NotifyPayments"].unary_unary(batch, context)  # type: ignore[arg-type, misc]
    assert context.code is grpc.StatusCode.UNIMPLEMENTED
