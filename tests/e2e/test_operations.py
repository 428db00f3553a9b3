"""Operating the processes: health, reflection, graceful shutdown, a database down at start-up."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from medins.registration.v1 import registration_service_pb2 as reg

from ops.free_ports import free_port
from services.common.migrations import drop_database, ensure_database, migrate_database
from tests.e2e.clients import RegistrationClient
from tests.e2e.system import ROOT, System
from tests.support import eventually, refused

SERVICES = {
    "registration": "medins.registration.v1.RegistrationService",
    "enrollment": "medins.enrollment.v1.EnrollmentCheckService",
    "collection": "medins.collection.v1.CollectionService",
}


async def test_every_service_reports_serving_per_service_name(system: System) -> None:
    for process, service in SERVICES.items():
        stub = health_pb2_grpc.HealthStub(system.channel(process))
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.grpc_cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


async def test_a_reflection_client_lists_and_calls_the_services(system: System) -> None:
    for process, service in SERVICES.items():
        listed = await asyncio.to_thread(cli, "list", system.address(process))
        assert service in listed.stdout.split(), listed.stderr
    described = await asyncio.to_thread(cli, "describe", system.address("registration"), SERVICES["registration"])
    assert "rpc RegisterResident(medins.registration.v1.RegisterResidentRequest)" in described.stdout
    called = await asyncio.to_thread(
        cli, "call", system.address("registration"), f"{SERVICES['registration']}/ListRegions", '{"pageSize": 2}'
    )
    assert json.loads(called.stdout)["regions"][0]["regionCode"] == "320400"
    failed = await asyncio.to_thread(
        cli,
        "call",
        system.address("registration"),
        f"{SERVICES['registration']}/GetEnrollment",
        '{"enrollmentId": "nope"}',
    )
    assert failed.returncode == 1
    report = json.loads(failed.stderr)
    assert report["code"] == "NOT_FOUND" and report["ErrorInfo"]["reason"] == "ENROLLMENT_NOT_FOUND"


async def test_sigterm_stops_a_server_gracefully(system: System) -> None:
    port = free_port()
    name = "registration"
    extra = System(system.stack, system.logs.parent / "graceful")
    extra.env.update(system.env, MEDINS_REGISTRATION_PORT=str(port))
    extra.ports[name] = port
    extra.start(name)
    try:
        await extra.wait_serving(name)
    finally:
        await extra.close_channels()
    assert await asyncio.to_thread(extra.stop, name, signal.SIGTERM) == 0
    log = extra.log_text(name)
    assert '"grpc_stopped"' in log and '"stop_requested"' in log and "Traceback" not in log


async def test_a_server_whose_database_is_down_waits_not_serving_then_serves(system: System) -> None:
    settings = system.stack.settings()
    missing_db = f"{system.stack.tag}_late"
    await drop_database(settings.admin_dsn, missing_db)
    late = System(system.stack, system.logs.parent / "late")
    port = free_port()
    late.env.update(system.env, MEDINS_REGISTRATION_PORT=str(port), MEDINS_INSURANCE_DB=missing_db)
    late.ports["registration"] = port
    late.start("registration")
    try:
        stub = health_pb2_grpc.HealthStub(late.channel("registration"))

        async def not_serving() -> None:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

        await eventually(not_serving)
        call = RegistrationClient(late.channel("registration")).ListRegions(reg.ListRegionsRequest(), timeout=5)
        error = await refused(call)
        assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "NOT_READY")

        async def logged_clearly() -> None:
            assert '"database_unavailable"' in late.log_text("registration")

        await eventually(logged_clearly)
        await ensure_database(settings.admin_dsn, missing_db)
        await migrate_database(settings.dsn(missing_db), "insurance")
        await late.wait_serving("registration")
        assert "Traceback" not in late.log_text("registration")
    finally:
        await late.close_channels()
        if "registration" in late.processes:
            assert await asyncio.to_thread(late.stop, "registration") == 0
        await drop_database(settings.admin_dsn, missing_db)
