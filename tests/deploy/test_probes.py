"""The container probes: ops.grpc_health_probe against a real gRPC health service, ops.worker_probe
against real processes."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ops import grpc_health_probe, worker_probe
from ops.free_ports import free_port
from services.common.settings import Settings

T = TypeVar("T")


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[str, health.aio.HealthServicer]]:  # type: ignore[name-defined]
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        await server.stop(0)


async def test_health_probe_passes_a_serving_server(health_server: tuple[str, object]) -> None:
    address, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # type: ignore[attr-defined]
    assert await asyncio.to_thread(grpc_health_probe.check, address) == grpc_health_probe.EXIT_SERVING


async def test_health_probe_fails_a_server_that_is_not_serving(health_server: tuple[str, object]) -> None:
    address, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # type: ignore[attr-defined]
    assert await asyncio.to_thread(grpc_health_probe.check, address) == grpc_health_probe.EXIT_NOT_SERVING


async def test_health_probe_asks_about_the_named_service(health_server: tuple[str, object]) -> None:
    address, servicer = health_server
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)  # type: ignore[attr-defined]
    await servicer.set("medins.x.v1.XService", health_pb2.HealthCheckResponse.NOT_SERVING)  # type: ignore[attr-defined]
    result = await asyncio.to_thread(grpc_health_probe.check, address, "medins.x.v1.XService")
    assert result == grpc_health_probe.EXIT_NOT_SERVING


def test_health_probe_reports_an_unreachable_server() -> None:
    address = f"127.0.0.1:{free_port()}"
    assert grpc_health_probe.check(address, timeout_seconds=1.0) == grpc_health_probe.EXIT_UNREACHABLE


def polled(observe: Callable[[], T]) -> T:
    """What `observe` returns once it is truthy, or its last answer when 10 s have passed (these probes
    are synchronous, so tests.support.eventually does not fit)."""
    deadline = time.monotonic() + 10
    seen = observe()
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
        seen = observe()
    return seen


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    # A process whose command line names a worker module, as `python -m workers.renewal` would.
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "workers.renewal"])
    try:
        # Just after exec the kernel may show an empty command line for a moment: wait until it is there.
        polled(lambda: Path(f"/proc/{process.pid}/cmdline").read_bytes())
        yield process
    finally:
        process.kill()
        process.wait()


def test_worker_probe_passes_a_live_worker_process(sleeper: subprocess.Popen[bytes]) -> None:
    assert worker_probe.process_problem(sleeper.pid, "workers.renewal") is None


def test_worker_probe_fails_a_process_running_another_module(sleeper: subprocess.Popen[bytes]) -> None:
    problem = worker_probe.process_problem(sleeper.pid, "workers.coverage")
    assert problem is not None and "does not run workers.coverage" in problem


def test_worker_probe_fails_a_stopped_process(sleeper: subprocess.Popen[bytes]) -> None:
    sleeper.send_signal(signal.SIGSTOP)
    try:
        # The stop takes effect asynchronously after the signal: poll for it, with a deadline.
        problem = polled(lambda: worker_probe.process_problem(sleeper.pid, "workers.renewal"))
        assert problem is not None and "state T" in problem
    finally:
        sleeper.send_signal(signal.SIGCONT)


def test_worker_probe_fails_a_process_that_is_gone(sleeper: subprocess.Popen[bytes]) -> None:
    sleeper.kill()
    sleeper.wait()
    problem = worker_probe.process_problem(sleeper.pid, "workers.renewal")
    assert problem is not None and "not found" in problem


def test_worker_readiness_needs_postgres_and_rabbitmq_from_settings() -> None:
    settings = Settings(pg_host="db.example", pg_port=6543, amqp_url="amqp://u:p@broker.example:5673/")
    assert worker_probe.dependency_endpoints(settings) == ([("db.example", 6543)], [("broker.example", 5673)])
    default_port = Settings(amqp_url="amqp://u:p@broker.example/")
    assert worker_probe.dependency_endpoints(default_port)[1] == [("broker.example", 5672)]


def test_worker_readiness_needs_one_live_node_of_a_postgresql_cluster() -> None:
    """Issue 24, MEDINS_PG_HOSTS: ready while any node answers (a failover leaves one), not when none does."""
    down = f"127.0.0.1:{free_port()}"
    assert worker_probe.readiness_problems(Settings(pg_hosts=f"{down},127.0.0.1:5432"), 1.0) == []  # type: ignore[arg-type]
    (problem,) = worker_probe.readiness_problems(Settings(pg_hosts=down), 1.0)  # type: ignore[arg-type]
    assert "no database node reachable" in problem


def test_worker_readiness_needs_one_live_node_of_a_cluster() -> None:
    """MEDINS_AMQP_URLS: ready while any node answers (the local PostgreSQL and broker run here), not
    ready when none does."""
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    one_down = Settings(amqp_urls=(down, "amqp://guest:guest@127.0.0.1:5672/"))
    assert worker_probe.readiness_problems(one_down, 1.0) == []
    (problem,) = worker_probe.readiness_problems(Settings(amqp_urls=(down,)), 1.0)
    assert "no broker node reachable" in problem


def test_worker_readiness_fails_when_a_dependency_refuses_connections() -> None:
    problem = worker_probe.endpoint_problem("127.0.0.1", free_port(), 1.0)
    assert problem is not None and "unreachable" in problem
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert worker_probe.endpoint_problem("127.0.0.1", listener.getsockname()[1], 1.0) is None


def _fake_proc(root: Path, cmdline: bytes, stat: str) -> Path:
    (root / "7").mkdir()
    (root / "7" / "cmdline").write_bytes(cmdline)
    (root / "7" / "stat").write_text(stat)
    return root


def test_worker_probe_fails_a_zombie_even_when_its_name_has_spaces_and_parentheses(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, b"python\0-m\0workers.coverage\0", "7 (py (x) y) Z 1 7 7 0 -1")
    assert worker_probe.process_problem(7, "workers.coverage", proc) == "process 7 is in state Z"


def test_worker_probe_fails_a_process_without_a_command_line_yet(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, b"", "7 (python) R 1 7 7 0 -1")
    assert worker_probe.process_problem(7, "workers.coverage", proc) == "process 7 has no command line yet"


def test_worker_probe_passes_a_sleeping_worker(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, b"python\0-m\0workers.coverage\0", "7 (python) S 1 7 7 0 -1")
    assert worker_probe.process_problem(7, "workers.coverage", proc) is None
