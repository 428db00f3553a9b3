"""`make soak`: the load tool's soak (benchmarks/load_soak.py) against the running system (`make run`) or,
when nothing listens at the registration service's address, against a system of its own: every service
and worker started as `make run` starts them (ops.supervisor) on databases and a RabbitMQ vhost of their
own, with the demo policies, stopped and dropped afterwards. So `make soak` runs on a fresh clone alone.

    python -m benchmarks.soak [load tool options]      e.g. --soak-minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks import load_tool, payments_load
from benchmarks.load_world import say
from benchmarks.processes import ROOT, poll_until
from ops.setup import load_demo_data
from services.common import grpc_channels
from services.common.settings import Settings

INSURANCE_DB, TAX_DB, VHOST = "medins_soak_insurance", "medins_soak_tax", "medins_soak"
LOG_PATH = ROOT / ".make" / "soak-system.log"
SERVING_PATIENCE_SECONDS, STOP_PATIENCE_SECONDS = 90.0, 30.0


def listening(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


def own_settings() -> Settings:
    return Settings(insurance_db=INSURANCE_DB, tax_db=TAX_DB, amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{VHOST}")


def own_environment(s: Settings) -> dict[str, str]:
    return {"MEDINS_INSURANCE_DB": s.insurance_db, "MEDINS_TAX_DB": s.tax_db, "MEDINS_AMQP_URL": s.amqp_url}


async def prepare(s: Settings) -> None:
    await payments_load.fresh_stack(s, VHOST)
    await load_demo_data(s)


async def serving(addresses: list[str]) -> None:
    for address in addresses:
        async with grpc_channels.aio_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            async def answers(stub: health_pb2_grpc.HealthStub = stub) -> bool:
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                except grpc.aio.AioRpcError:
                    return False
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

            await poll_until(answers, within_seconds=SERVING_PATIENCE_SECONDS, what=address)


def stop(system: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the supervisor, which stops every process it started; SIGKILL to the group if it hangs."""
    if system.poll() is None:
        system.send_signal(signal.SIGTERM)
        try:
            system.wait(STOP_PATIENCE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(system.pid, signal.SIGKILL)
            system.wait()


def soak_own_system(args: argparse.Namespace) -> int:
    s = own_settings()
    say(f"nothing listens at the registration address: starting the system on {TAX_DB}, {INSURANCE_DB}, vhost {VHOST}")
    asyncio.run(prepare(s))
    os.environ.update(own_environment(s))
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    with LOG_PATH.open("ab") as log:
        system = subprocess.Popen(
            [sys.executable, "-m", "ops.supervisor"], cwd=ROOT, stdout=log, stderr=log, start_new_session=True
        )
    try:
        where = load_tool.addresses(args, Settings())
        asyncio.run(serving([where.registration, where.enrollment, where.collection]))
        say(f"the system is serving (its log: {LOG_PATH.relative_to(ROOT)})")
        return load_tool.run(args)
    finally:
        say("stopping the system and dropping its databases and vhost")
        stop(system)
        asyncio.run(payments_load.drop_stack(s, VHOST))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    load_tool.add_arguments(parser)
    args = parser.parse_args()
    args.soak = True
    try:
        where = load_tool.addresses(args, Settings())
    except load_tool.UsageError as exc:
        print(f"make soak: {exc}", file=sys.stderr)  # noqa: T201 - a command-line tool
        sys.exit(2)
    if listening(where.registration):
        sys.exit(load_tool.run(args))
    sys.exit(soak_own_system(args))


if __name__ == "__main__":
    main()
