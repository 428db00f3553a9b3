"""Liveness and readiness probe for a worker container (python -m ops.worker_probe MODULE [--ready]).

Workers serve no gRPC, so they have no health service to ask. Liveness: the container's main process
(PID 1) is the expected worker module and is neither a zombie nor stopped. Readiness (--ready): also,
the worker's PostgreSQL and at least one of its RabbitMQ nodes accept TCP connections, so a rollout
does not go on while new pods cannot reach what they need. A hung event loop is not seen by this
probe: that needs a heartbeat or metrics endpoint in the worker itself.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from services.common.settings import Settings

# States of /proc/<pid>/stat in which a process will never do work again.
DEAD_STATES = frozenset("ZXxTt")
AMQP_DEFAULT_PORT = 5672


def process_problem(pid: int, module: str, proc: Path = Path("/proc")) -> str | None:
    """Why process `pid` is not a live `python -m module` (None when it is)."""
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        stat = (proc / str(pid) / "stat").read_text()
    except OSError as error:
        return f"process {pid} not found ({error.strerror})"
    if cmdline == [b""]:
        # A process that has just exec'd shows no command line for a moment.
        return f"process {pid} has no command line yet"
    if module.encode() not in cmdline:
        return f"process {pid} does not run {module}"
    # The state follows the command name, which is in parentheses and may itself contain spaces.
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in DEAD_STATES:
        return f"process {pid} is in state {state}"
    return None


def endpoint_problem(host: str, port: int, timeout_seconds: float) -> str | None:
    """Why a TCP connection to host:port cannot be opened (None when it can)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return None
    except OSError as error:
        return f"{host}:{port} unreachable ({error})"


def dependency_endpoints(settings: Settings) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Every PostgreSQL node (MEDINS_PG_HOSTS) and every RabbitMQ node (MEDINS_AMQP_URLS) a worker may use."""
    nodes = [urlsplit(url) for url in settings.broker_urls]
    return list(settings.pg_endpoints), [
        (node.hostname or "localhost", node.port or AMQP_DEFAULT_PORT) for node in nodes
    ]


def readiness_problems(settings: Settings, timeout_seconds: float) -> list[str]:
    """Why the worker cannot work yet: no PostgreSQL node or no broker node reachable (a cluster with
    one node down is still ready: the worker fails over to another)."""
    databases, brokers = dependency_endpoints(settings)
    problems = []
    for kind, endpoints in (("database", databases), ("broker", brokers)):
        found = [endpoint_problem(host, port, timeout_seconds) for host, port in endpoints]
        if all(p is not None for p in found):
            problems.append(f"no {kind} node reachable: " + "; ".join(p for p in found if p))
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", help="the worker module PID 1 must run, e.g. workers.coverage")
    parser.add_argument("--ready", action="store_true", help="also require PostgreSQL and RabbitMQ reachable")
    parser.add_argument("--pid", type=int, default=1, help="the worker's process id (1 in its container)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per TCP connection attempt")
    args = parser.parse_args(argv)
    problems = [process_problem(args.pid, args.module)]
    if args.ready:
        problems += readiness_problems(Settings(), args.timeout)
    found = [p for p in problems if p is not None]
    for problem in found:
        sys.stderr.write(problem + "\n")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
