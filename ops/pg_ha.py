"""PostgreSQL with failover on this machine: Patroni and etcd from Debian's packages (issue 24).

python -m ops.pg_ha start    an etcd member and two Patroni nodes (a primary and a synchronous standby)
                             of PostgreSQL 15, then prints the MEDINS_PG_HOSTS line pointing at them
python -m ops.pg_ha status   each node's role, state and lag, as Patroni sees them
python -m ops.pg_ha switchover   a planned switchover to the synchronous standby
python -m ops.pg_ha stop     stops the nodes and etcd (their data stays; `start` brings them back)

Everything lives under --dir (.make/ha by default) on ports from --base-port (5450: etcd's client and
peer ports, then the PostgreSQL nodes, then their REST APIs): the machine's own PostgreSQL (5432) is
never touched. PostgreSQL refuses to run as root, so Patroni and etcd run as the `postgres` user.

One cluster serves both agencies' databases here (two cores): in production each agency has its own
(the Kubernetes overlay's CloudNativePG clusters). `synchronous_mode` makes every commit wait for the
standby, and Patroni promotes only a synchronous standby: a commit the system acknowledged survives
the loss of the primary. One etcd member is enough to show the failover of PostgreSQL; a real site
runs three (or five), on machines of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ops.patroni_config import PG_BIN, patroni_config
from ops.postgres_user import RUN_AS, NotReachable, give_to_postgres, postgres_ids

DEFAULT_DIR = Path(".make/ha")
DEFAULT_BASE_PORT = 5450

Progress = Callable[[str], None]


class HaError(Exception):
    """Something the operator can act on; printed as one message, without a traceback."""


def _say(message: str) -> None:
    print(f"pg-ha: {message}", flush=True)  # noqa: T201 - progress of a long command


def _alive(pid: int) -> bool:
    """Whether a process runs; one of ours that exited is reaped here (a zombie is not alive)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return reaped == 0


@dataclass(frozen=True)
class Node:
    name: str
    pg_port: int
    rest_port: int
    directory: Path

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def postmaster_pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        try:
            return int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class HaCluster:
    directory: Path
    base_port: int = DEFAULT_BASE_PORT
    size: int = 2

    def __post_init__(self) -> None:
        # Absolute: PostgreSQL's programs run in other working directories.
        object.__setattr__(self, "directory", self.directory.resolve())

    @property
    def etcd_client_port(self) -> int:
        return self.base_port

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(f"pg{i}", self.base_port + 1 + i, self.base_port + 11 + i, self.directory / f"pg{i}")
            for i in range(1, self.size + 1)
        ]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    @property
    def hosts(self) -> str:
        """MEDINS_PG_HOSTS: every node, in order."""
        return ",".join(f"127.0.0.1:{n.pg_port}" for n in self.nodes)

    # -- processes ------------------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.directory / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        try:
            pid = int(self._pid_file(name).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _spawn(self, name: str, command: list[str]) -> None:
        """Starts a daemon of the cluster as the postgres user, detached, logging to its own file."""
        if self._pid(name) is not None:
            return
        uid, gid = postgres_ids()
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.directory.resolve()), "LANG": "C.UTF-8"}
        process = subprocess.Popen(
            command,
            env=env,
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=gid,
            extra_groups=[],
            start_new_session=True,
        )
        log.close()
        self._pid_file(name).write_text(str(process.pid))

    def _prepare(self) -> None:
        if shutil.which("patroni") is None or shutil.which("etcd") is None:
            raise HaError("patroni and etcd are not installed (`make test-ha` installs them with apt-get)")
        try:
            give_to_postgres(self.directory, *(n.directory for n in self.nodes), self.directory / "etcd")
        except NotReachable as error:
            raise HaError(str(error)) from None
        for node in self.nodes:
            (node.directory / "patroni.yml").write_text(
                yaml.safe_dump(patroni_config(node, self.etcd_client_port), sort_keys=False)
            )

    def start(self, say: Progress = _say, timeout: float = 180) -> None:
        """Starts etcd and every node that is not running, and waits for a primary with a synchronous standby."""
        self._prepare()
        peer = f"http://127.0.0.1:{self.base_port + 1}"
        client = f"http://127.0.0.1:{self.etcd_client_port}"
        self._spawn(
            "etcd",
            [
                "etcd",
                "--name=etcd1",
                f"--data-dir={(self.directory / 'etcd').resolve()}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=etcd1={peer}",
            ],
        )
        for node in self.nodes:
            self.start_node(node)
        say(f"etcd on {self.etcd_client_port}, Patroni nodes on {self.hosts}: waiting for a primary and a sync standby")
        self.wait_healthy(timeout)
        say(f"ready: {self.describe()}")

    def start_node(self, node: Node) -> None:
        self._spawn(node.name, ["patroni", str((node.directory / "patroni.yml").resolve())])

    def kill_node(self, node: Node) -> list[int]:
        """kill -9 of everything a node runs at once, Patroni and every PostgreSQL process: a machine lost."""
        pids = [pid for pid in (self._pid(node.name), node.postmaster_pid()) if pid is not None]
        children = subprocess.run(
            ["pgrep", "-P", ",".join(map(str, pids))], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in [*pids, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._pid_file(node.name).unlink(missing_ok=True)
        return pids

    def stop(self, say: Progress = _say) -> None:
        """SIGTERM to every Patroni (each stops its PostgreSQL), then to etcd; SIGKILL after 60 s."""
        for name in [n.name for n in self.nodes] + ["etcd"]:
            pid = self._pid(name)
            if pid is None:
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while self._pid(name) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if self._pid(name) is not None:
                os.kill(pid, signal.SIGKILL)
            self._pid_file(name).unlink(missing_ok=True)
            say(f"{name} stopped")
        for node in self.nodes:  # a PostgreSQL left behind by a Patroni that was killed
            pid = node.postmaster_pid()
            if pid is not None and _alive(pid):
                subprocess.run(
                    [str(PG_BIN / "pg_ctl"), "-D", str(node.data), "stop", "-m", "fast"],
                    check=False,
                    user=RUN_AS,
                    capture_output=True,
                )

    # -- what Patroni says ---------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        """The cluster's members from the first node whose REST API answers."""
        for node in self.nodes:
            try:
                with urllib.request.urlopen(f"{node.rest}/cluster", timeout=2) as reply:
                    return list(json.load(reply)["members"])
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                continue
        return []

    def leader(self) -> Node | None:
        found = [m["name"] for m in self.members() if m.get("role") == "leader" and m.get("state") == "running"]
        return self.node(found[0]) if found else None

    def sync_standby(self) -> Node | None:
        found = [
            m["name"]
            for m in self.members()
            if m.get("role") == "sync_standby" and m.get("state") in ("running", "streaming")
        ]
        return self.node(found[0]) if found else None

    def describe(self) -> str:
        return (
            ", ".join(f"{m['name']} {m.get('role')} {m.get('state')} (lag {m.get('lag', 0)})" for m in self.members())
            or "no member answers"
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not (self.leader() and (self.size < 2 or self.sync_standby())):
            if time.monotonic() > deadline:
                raise HaError(f"no primary with a synchronous standby after {timeout:.0f} s: {self.describe()}")
            time.sleep(0.5)

    def switchover(self) -> tuple[str, str]:
        """A planned switchover to the synchronous standby; returns (old, new) leader names."""
        leader, standby = self.leader(), self.sync_standby()
        if leader is None or standby is None:
            raise HaError(f"a switchover needs a primary and a synchronous standby: {self.describe()}")
        body = json.dumps({"leader": leader.name, "candidate": standby.name}).encode()
        request = urllib.request.Request(f"{leader.rest}/switchover", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                reply.read()
        except urllib.error.HTTPError as error:
            raise HaError(f"switchover refused: {error.read().decode(errors='replace')}") from None
        return leader.name, standby.name


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "status", "switchover", "env"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    args = parser.parse_args(argv)
    cluster = HaCluster(args.dir, args.base_port)
    try:
        if args.command == "start":
            cluster.start()
            _say(f"point the system at it: MEDINS_PG_HOSTS={cluster.hosts}")
        elif args.command == "stop":
            cluster.stop()
        elif args.command == "status":
            _say(cluster.describe())
        elif args.command == "switchover":
            old, new = cluster.switchover()
            _say(f"switchover from {old} to {new} requested")
        else:
            print(f"MEDINS_PG_HOSTS={cluster.hosts}")  # noqa: T201
    except HaError as error:
        sys.exit(f"pg-ha: {error}")


if __name__ == "__main__":
    main()
