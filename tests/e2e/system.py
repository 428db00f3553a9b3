"""The running system for end-to-end tests: the real processes of ops/processes.py, each with its own
log file, pointed at a test stack, all reading one file clock.

Replicas (issue 10 item 9): `System(..., replicas=2)` runs two instances of every process. The first
keeps the plain name ("coverage"), the others are "coverage#2" and so on; a gRPC service's replica
listens on a port of its own (`ports["collection#2"]`), so a test can spread and fail over its calls.
The default is one instance of each, as before.

Mutual TLS (R35): `System(..., tls_dir=certs)` runs every service with MEDINS_TLS_REQUIRED, and
`channel(name, identity)` connects presenting that identity's certificate (or none, with NO_CERTIFICATE).
The default is plaintext, where every call is the development identity.

Metrics (issue 13): `System(..., metrics=True)` gives every instance a /metrics port of its own
(`metrics_ports[name]`); by default they serve none.

Launchers (issue 24): by default a process is this interpreter running the module from the work tree;
`System(..., launcher=...)` runs it otherwise, e.g. from inside the image's file system
(tests/image/launcher.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ops.certs import make_certs
from ops.free_ports import free_port
from ops.processes import LOCAL_PROCESSES, ProcessSpec
from ops.setup import load_demo_data
from services.common.clock import write_clock_file
from services.common.grpc_channels import ChannelSecurity, aio_channel
from services.common.identity import Identity, parse_identity
from services.common.tls import TlsFiles
from tests.e2e import channels
from tests.infra import Stack, create_stack, drop_stack
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[2]
# The identity the test harness itself calls as under mTLS (health checks, set-up).
HARNESS_IDENTITY = "operator:local"
NO_CERTIFICATE = "no-certificate"
# What one payment needs to go from NotifyPayment to coverage (registration and assessment before it):
# the three services, both relays and the two consumers (tests that run a small system of their own).
PAYMENT_PATH = (
    "registration",
    "enrollment",
    "collection",
    "outbox-relay-insurance",
    "outbox-relay-tax",
    "assessment",
    "coverage",
)
READY_MARKERS = {
    "relay": '"relay_started"',
    "consumer": '"consumer_started"',
    "job": '"periodic_job_started"',
    "callbacks": '"callbacks_serving"',
}


def callback_certs() -> Path:
    """This test run's certificates of the HTTPS callback endpoint (`make certs`' layout)."""
    root = channels.keys_root() / "certs"
    make_certs(root)
    return root


class Launcher(Protocol):
    """How a process of ops/processes.py is started: its command line and its environment."""

    def command(self, args: Sequence[str]) -> list[str]: ...

    def environment(self, env: dict[str, str]) -> dict[str, str]: ...


class WorkTree:
    """The default: this interpreter, the work tree's modules, the environment as given."""

    def command(self, args: Sequence[str]) -> list[str]:
        return [sys.executable, *args]

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return env


def replica_name(name: str, replica: int) -> str:
    """The instance name of a process's n-th replica (1 is the process itself)."""
    return name if replica == 1 else f"{name}#{replica}"


def base_name(instance: str) -> str:
    return instance.split("#", 1)[0]


class System:
    def __init__(
        self,
        stack: Stack,
        workdir: Path,
        *,
        replicas: int = 1,
        tls_dir: Path | None = None,
        metrics: bool = False,
        launcher: Launcher | None = None,
    ) -> None:
        self.stack = stack
        self.launcher = launcher or WorkTree()
        self.tls = TlsFiles(tls_dir) if tls_dir is not None else None
        self.replicas = replicas
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.clock_file = workdir / "clock"
        channels.use_clock(self.clock_file)
        self.callbacks_port = free_port()
        self.ports = {
            replica_name(service, k): free_port()
            for service in ("registration", "enrollment", "collection")
            for k in range(1, replicas + 1)
        }
        # What the local SMS gateway, notifier and simulated bank keep, for tests to read (R27, R29).
        self.sms_file = workdir / "sms.jsonl"
        self.notifier_file = workdir / "notifications.jsonl"
        self.bank_file = workdir / "bank.json"
        self.env = {
            **os.environ,
            # A developer's shell may point at `make cluster`; the stack says which broker to use.
            "MEDINS_AMQP_URLS": "",
            **stack.env(),
            "MEDINS_REGISTRATION_PORT": str(self.ports["registration"]),
            "MEDINS_ENROLLMENT_PORT": str(self.ports["enrollment"]),
            "MEDINS_COLLECTION_PORT": str(self.ports["collection"]),
            "MEDINS_CLOCK_FILE": str(self.clock_file),
            "MEDINS_LOG_LEVEL": "INFO",
            "MEDINS_SHUTDOWN_GRACE_SECONDS": "5",
            "MEDINS_WORKER_INTERVAL_SECONDS": "0.2",
            "MEDINS_ORDER_EXPIRY_INTERVAL_SECONDS": "0.2",
            "MEDINS_SMS_OUTBOX_FILE": str(self.sms_file),
            "MEDINS_NOTIFIER_OUTBOX_FILE": str(self.notifier_file),
            "MEDINS_BANK_SIMULATOR_FILE": str(self.bank_file),
            # R42: the channels' keys of this test run (their simulators sign every callback).
            "MEDINS_CHANNEL_KEYS_DIR": str(channels.verify_dir()),
            # R44: the HTTPS callback endpoint (started by the tests that call it: `callbacks_url`).
            "MEDINS_CALLBACKS_PORT": str(self.callbacks_port),
            "MEDINS_CALLBACKS_TLS_DIR": str(callback_certs()),
            # Small pools: the PostgreSQL server (max_connections 100 in CI) is shared by the session's
            # system, one module's system and the tests' own connections; fifteen processes with the
            # default pools of 2 to 10 would take all of it.
            "MEDINS_DB_POOL_MIN": "1",
            "MEDINS_DB_POOL_MAX": "4",
            # A system waiting while another test's system runs gives back what it does not use.
            "MEDINS_DB_POOL_IDLE_SECONDS": "5",
        }
        if tls_dir is not None:
            self.env |= {"MEDINS_TLS_REQUIRED": "true", "MEDINS_TLS_DIR": str(tls_dir)}
        if metrics:
            self.env["MEDINS_METRICS_SAMPLE_SECONDS"] = "0.2"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._log_offsets: dict[str, int] = {}
        self._configured: dict[str, dict[str, str]] = {}
        self._channels: dict[tuple[str, str, int], grpc.aio.Channel] = {}
        self._specs = {replica_name(spec.name, k): spec for spec in LOCAL_PROCESSES for k in range(1, replicas + 1)}
        self.metrics_ports = {name: free_port() for name in self._specs} if metrics else {}

    # -- time ---------------------------------------------------------------------------------

    def set_clock(self, instant: dt.datetime, *, running: bool = False) -> None:
        """Moves every process's clock (they re-read the file when it changes); `running`: time flows
        on from `instant` as the wall clock does, else it stands still there."""
        write_clock_file(self.clock_file, instant, running=running)
        channels.use_clock(self.clock_file)

    # -- processes ----------------------------------------------------------------------------

    def configure(self, name: str, env: dict[str, str]) -> None:
        """Configuration of that instance's own from its next start on, every start after (a kill, a
        supervisor's restart) included; `start`'s `extra_env` is for that one start only."""
        self._configured[name] = env

    def start(self, name: str, extra_env: dict[str, str] | None = None) -> None:
        spec = self._specs[name]
        self._log_offsets[name] = len(self.log_text(name))
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        # A service's replica listens on its own port; the first instance keeps the shared settings.
        own_port = {f"MEDINS_{base_name(name).upper()}_PORT": str(self.ports[name])} if name in self.ports else {}
        if name in self.metrics_ports:
            own_port["MEDINS_METRICS_PORT"] = str(self.metrics_ports[name])
        self.processes[name] = subprocess.Popen(
            self.launcher.command(spec.args),
            env=self.launcher.environment(
                {**self.env, **spec.env, **self._configured.get(name, {}), **own_port, **(extra_env or {})}
            ),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        """Every process but the callback endpoint (`start("callbacks")` where a test calls it)."""
        for name in self._specs:
            if base_name(name) != "callbacks":
                self.start(name)

    @property
    def callbacks_url(self) -> str:
        """The HTTPS callback endpoint's base URL (its certificate: callback_certs()/ca.pem)."""
        return f"https://127.0.0.1:{self.callbacks_port}"

    def instances(self, name: str) -> list[str]:
        """Every instance of a process: the process itself and its replicas."""
        return [replica_name(name, k) for k in range(1, self.replicas + 1)]

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        process.send_signal(sig)
        return process.wait(timeout=timeout)

    def kill(self, name: str) -> None:
        """SIGKILL: the process dies at once, mid-transaction if it is in one."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=30)

    async def query(self, agency: str, sql: str, *args: object) -> list[asyncpg.Record]:
        """Reads an agency database directly: the tests' oracle, never the system's path."""
        settings = self.stack.settings()
        conn = await asyncpg.connect(settings.insurance_dsn if agency == "insurance" else settings.tax_dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def value(self, agency: str, sql: str, *args: object) -> Any:
        rows = await self.query(agency, sql, *args)
        return rows[0][0] if rows else None

    def stop_all(self) -> dict[str, int]:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        codes = {name: process.wait(timeout=30) for name, process in self.processes.items()}
        self.processes.clear()
        return codes

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait_ready(self, names: list[str] | None = None, timeout: float = 60) -> None:
        for name in names or list(self.processes):
            spec = self._specs[name]
            if spec.address is not None:
                await self.wait_serving(name, timeout=timeout)
            else:
                await self._wait_log_marker(name, spec, timeout)

    async def _wait_log_marker(self, name: str, spec: ProcessSpec, timeout: float) -> None:
        kind = {
            "workers.outbox_relay": "relay",
            "workers.assessment": "consumer",
            "workers.coverage": "consumer",
            "services.collection.callbacks": "callbacks",
        }
        marker = READY_MARKERS[kind.get(spec.args[1], "job")]

        async def started() -> None:
            assert self.processes[name].poll() is None, f"{name} exited:\n{self.log_text(name)[-3000:]}"
            assert marker in self.log_text(name)[self._log_offsets[name] :], f"{name} not started yet"

        await eventually(started, timeout=timeout)

    async def wait_serving(self, name: str, timeout: float = 60) -> None:
        stub = health_pb2_grpc.HealthStub(self.channel(name))

        async def serving() -> None:
            assert self.processes[name].poll() is None, f"{name} exited:\n{self.log_text(name)[-3000:]}"
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        await eventually(serving, timeout=timeout)

    # -- clients ------------------------------------------------------------------------------

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def channel(self, name: str, identity: str = HARNESS_IDENTITY, connection: int = 0) -> grpc.aio.Channel:
        """A channel to a service; under mTLS presenting `identity`'s certificate (NO_CERTIFICATE: none).
        Each `connection` number is a connection of its own (a client with several)."""
        key = (name, identity, connection)
        if key not in self._channels:
            security = None
            if self.tls is not None:
                caller: Identity | None = None if identity == NO_CERTIFICATE else parse_identity(identity)
                security = ChannelSecurity(self.tls, caller)
            # grpc shares one connection among channels of equal arguments unless told otherwise.
            options = [("grpc.use_local_subchannel_pool", 1)] if connection else []
            self._channels[key] = aio_channel(self.address(name), security=security, options=options)
        return self._channels[key]

    async def close_channels(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()


@contextlib.asynccontextmanager
async def running_system(
    stack: Stack,
    workdir: Path,
    start: dt.datetime,
    *,
    env: dict[str, str] | None = None,
    only: Sequence[str] | None = None,
    **options: Any,
) -> AsyncIterator[System]:
    """A whole system on a stack of its own: the stack created with the demo data as of `start`, the clock
    at `start`, every process started (`only` these, when given) with `env` added, and ready. On leaving:
    the channels closed, every process stopped by SIGTERM, the stack dropped, and a failure if any
    process did not stop cleanly. `options` go to System (tls_dir, metrics, replicas)."""
    await create_stack(stack)
    await load_demo_data(stack.settings(), start.date())
    system = System(stack, workdir, **options)
    system.env |= env or {}
    system.set_clock(start)
    if only is None:
        system.start_all()
    for name in only or ():
        system.start(name)
    try:
        await system.wait_ready(None if only is None else list(only))
        yield system
    finally:
        await system.close_channels()
        # In a thread: the loop keeps serving what the processes talk to as they stop (a trace receiver,
        # a channel simulator), instead of leaving them to their timeouts.
        codes = await asyncio.to_thread(system.stop_all)
        await drop_stack(stack)
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not stop cleanly on SIGTERM: {failed} (logs in {system.logs})"
