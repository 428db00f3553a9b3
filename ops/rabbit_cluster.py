"""A RabbitMQ cluster of three extra nodes on this machine, beside the default broker (issue 13).

python -m ops.rabbit_cluster start    starts the nodes, joins them, declares the topology (quorum
                                      queues with a replica on every node) and prints the settings
python -m ops.rabbit_cluster stop     stops the nodes (their data stays, `start` brings them back)
python -m ops.rabbit_cluster status   which nodes run, and each queue's type and replicas
python -m ops.rabbit_cluster env      the MEDINS_AMQP_URLS line pointing the system at the cluster

Every node has its own name (medins1@localhost ...), AMQP port (5681 ...), distribution port (AMQP port
+ 20000), data, logs, config and plugins file under --dir (.make/cluster by default), and a HOME of the
cluster's own holding the shared Erlang cookie: the default broker (rabbit@localhost, 5672) and its
cookie are never touched. Running `start` or `stop` twice is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import SettingsError

from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import declare_topology
from services.common.settings import load_settings

DEFAULT_DIR = Path(".make/cluster")
DEFAULT_BASE_PORT = 5681
DEFAULT_SIZE = 3
DIST_PORT_OFFSET = 20_000
STARTUP_SECONDS = 120.0
CLI_TIMEOUT_SECONDS = 120.0

Progress = Callable[[str], None]


class ClusterError(Exception):
    """Something the operator can act on; printed as one message, without a traceback."""


def _say(message: str) -> None:
    print(f"rabbit-cluster: {message}", flush=True)


def rabbitmq_bin() -> Path:
    """The RabbitMQ scripts themselves: Debian's /usr/sbin wrappers switch to the rabbitmq user and
    its HOME, which would take the default broker's cookie instead of the cluster's."""
    override = os.environ.get("RABBITMQ_BIN")
    candidates = [Path(override)] if override else [Path("/usr/lib/rabbitmq/bin")]
    found = shutil.which("rabbitmq-server")
    if found:
        candidates.append(Path(found).resolve().parent)
    for directory in candidates:
        if (directory / "rabbitmq-server").exists() and (directory / "rabbitmqctl").exists():
            return directory
    raise ClusterError("RabbitMQ is not installed (no rabbitmq-server); on Debian: apt-get install rabbitmq-server")


@dataclass(frozen=True)
class Node:
    name: str  # e.g. medins1@localhost
    amqp_port: int
    directory: Path

    @property
    def short(self) -> str:
        return self.name.split("@", 1)[0]

    @property
    def dist_port(self) -> int:
        return self.amqp_port + DIST_PORT_OFFSET

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / f"{self.name}.log"

    def url(self, vhost: str = "") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{vhost}"


@dataclass(frozen=True)
class Cluster:
    directory: Path
    base_port: int = DEFAULT_BASE_PORT
    size: int = DEFAULT_SIZE
    prefix: str = "medins"

    @property
    def nodes(self) -> list[Node]:
        return [
            Node(f"{self.prefix}{i}@localhost", self.base_port + i - 1, self.directory / f"{self.prefix}{i}")
            for i in range(1, self.size + 1)
        ]

    @property
    def home(self) -> Path:
        return self.directory / "home"

    def urls(self, vhost: str = "") -> list[str]:
        return [node.url(vhost) for node in self.nodes]

    def settings_line(self, vhost: str = "") -> str:
        return "MEDINS_AMQP_URLS=" + ",".join(self.urls(vhost))

    # -- running the RabbitMQ tools with the cluster's environment ----------------------------

    def _cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return {
            **env,
            "HOME": str(self.home.resolve()),  # the cluster's Erlang cookie, not the default broker's
            "RABBITMQ_CONF_ENV_FILE": str((self.directory / "rabbitmq-env.conf").resolve()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def _node_env(self, node: Node) -> dict[str, str]:
        base = node.directory.resolve()
        return {
            **self._cli_env(),
            "RABBITMQ_NODENAME": node.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(node.amqp_port),
            "RABBITMQ_DIST_PORT": str(node.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def ctl(self, node: Node, *args: str, tool: str = "rabbitmqctl", check: bool = True) -> str:
        """Runs a RabbitMQ CLI tool against one node; a failure is a ClusterError with its output."""
        command = [str(rabbitmq_bin() / tool), "-q", "-n", node.name, *args]
        try:
            done = subprocess.run(
                command, env=self._cli_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{tool} {' '.join(args)} on {node.name} took over {CLI_TIMEOUT_SECONDS:.0f} s") from exc
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise ClusterError(f"{tool} {' '.join(args)} on {node.name} failed: {' '.join(detail[:3])}")
        return done.stdout

    def running(self, node: Node) -> bool:
        return (
            subprocess.run(
                [str(rabbitmq_bin() / "rabbitmqctl"), "-q", "-n", node.name, "ping"],
                env=self._cli_env(),
                capture_output=True,
                timeout=CLI_TIMEOUT_SECONDS,
                check=False,
            ).returncode
            == 0
        )

    # -- start ------------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(secrets.token_hex(20).upper())
            cookie.chmod(0o400)
        # An empty env file of our own: the system's (/etc/rabbitmq/rabbitmq-env.conf) names the default node.
        (self.directory / "rabbitmq-env.conf").touch()
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            (node.directory / "enabled_plugins").write_text("[].\n")
            (node.directory / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
                # A stopped node is out until it is started again: no automatic recovery dance.
                "cluster_partition_handling = pause_minority\n"
            )

    def _check_port_free(self, node: Node) -> None:
        for port in (node.amqp_port, node.dist_port):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError as exc:
                    raise ClusterError(
                        f"port {port} for {node.name} is taken by another program; choose other ports with --base-port"
                    ) from exc

    def start_nodes(self, nodes: Sequence[Node], say: Progress = _say) -> None:
        """Starts the nodes that are not running, all at once (a restarted node waits for its peers),
        and waits until each serves."""
        started: dict[Node, subprocess.Popen[bytes]] = {}
        for node in nodes:
            if self.running(node):
                say(f"{node.name} already running on 127.0.0.1:{node.amqp_port}")
                continue
            self._check_port_free(node)
            say(f"starting {node.name} on 127.0.0.1:{node.amqp_port} (log {node.log_file})")
            with (node.directory / "server.out").open("ab") as out:
                started[node] = subprocess.Popen(
                    [str(rabbitmq_bin() / "rabbitmq-server")],
                    env=self._node_env(node),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # not stopped by the terminal's Ctrl-C: `stop` stops it
                )
        deadline = time.monotonic() + STARTUP_SECONDS
        for node, process in started.items():
            while not self.running(node):
                if process.poll() is not None:
                    raise ClusterError(f"{node.name} exited at start (code {process.returncode}); see {node.log_file}")
                if time.monotonic() > deadline:
                    raise ClusterError(f"{node.name} did not start within {STARTUP_SECONDS:.0f} s; see {node.log_file}")
                time.sleep(0.5)
            self.ctl(node, "await_startup", "--timeout", str(int(STARTUP_SECONDS)))
            say(f"{node.name} up")

    def members(self, node: Node) -> list[str]:
        status = json.loads(self.ctl(node, "cluster_status", "--formatter", "json"))
        return sorted(status.get("disk_nodes", []) + status.get("ram_nodes", []))

    def join(self, node: Node, say: Progress = _say) -> None:
        """Joins `node` to the first node's cluster unless it is already in it."""
        first = self.nodes[0]
        if first.name in self.members(node):
            say(f"{node.name} already in the cluster")
            return
        say(f"joining {node.name} to {first.name}")
        self.ctl(node, "stop_app")
        self.ctl(node, "reset")  # a node joins empty; it was never part of this cluster
        self.ctl(node, "join_cluster", first.name)
        self.ctl(node, "start_app")
        self.ctl(node, "await_startup", "--timeout", str(int(STARTUP_SECONDS)))

    def declare(self, retry_delays_ms: tuple[int, ...], vhost: str = "", say: Progress = _say) -> None:
        """Declares the topology through the cluster, then makes sure every quorum queue has a replica
        on every node (a queue declared while a node was away has fewer)."""
        say(f"declaring the topology (vhost {vhost or '/'})")
        asyncio.run(_declare(self.urls(vhost), retry_delays_ms))
        if self.under_replicated(vhost):
            for node in self.nodes:  # adds a replica on `node` to every quorum queue without one
                self.ctl(self.nodes[0], "grow", node.name, "all", tool="rabbitmq-queues")
        missing = self.under_replicated(vhost)
        if missing:
            raise ClusterError(f"queues without a replica on every node: {', '.join(missing)}")

    def queues(self, vhost: str = "", via: Node | None = None) -> list[dict[str, object]]:
        """Every queue's name, type, replicas (members) and leader, as node `via` (the first) sees them."""
        rows = self.ctl(
            via or self.nodes[0],
            "list_queues",
            "-p",
            vhost or "/",
            "name",
            "type",
            "members",
            "leader",
            "--formatter",
            "json",
        )
        result: list[dict[str, object]] = json.loads(rows or "[]")
        return result

    def under_replicated(self, vhost: str = "") -> list[str]:
        """Queues that are not quorum queues with a member on every node."""
        everyone = {node.name for node in self.nodes}
        return [
            str(q["name"])
            for q in self.queues(vhost)
            if q.get("type") != "quorum" or set(q.get("members") or []) != everyone  # type: ignore[call-overload]
        ]

    def start(self, retry_delays_ms: tuple[int, ...], vhost: str = "", say: Progress = _say) -> None:
        rabbitmq_bin()
        self._prepare_files()
        self.start_nodes(self.nodes, say)
        for node in self.nodes[1:]:
            self.join(node, say)
        self.declare(retry_delays_ms, vhost, say)
        say(f"cluster of {len(self.nodes)} running: {', '.join(self.members(self.nodes[0]))}")

    # -- stop -------------------------------------------------------------------------------------

    def stop_node(self, node: Node, say: Progress = _say) -> None:
        """Stops one node and waits until its process has exited (not running: nothing to do)."""
        if not self.running(node):
            say(f"{node.name} not running")
            return
        say(f"stopping {node.name}")
        pid_file = node.directory / "rabbitmq.pid"
        self.ctl(node, "stop", *([str(pid_file.resolve())] if pid_file.exists() else []))
        say(f"{node.name} stopped")

    def stop(self, say: Progress = _say) -> None:
        # The last node stopped must be the first started again; stopping the joiners first and the
        # first node last lets `start` (which starts the first node first) bring it back in one go.
        for node in reversed(self.nodes):
            self.stop_node(node, say)


async def _declare(urls: Sequence[str], retry_delays_ms: tuple[int, ...]) -> None:
    connection = await connect_broker(urls, attempts=5)
    try:
        await declare_topology(await connection.channel(), retry_delays_ms)
    finally:
        await connection.close()


def print_status(cluster: Cluster) -> None:
    up = [node for node in cluster.nodes if cluster.running(node)]
    for node in cluster.nodes:
        _say(f"{node.name} 127.0.0.1:{node.amqp_port} {'running' if node in up else 'stopped'}")
    if not up:
        return
    for q in json.loads(
        cluster.ctl(up[0], "list_queues", "name", "type", "members", "leader", "--formatter", "json") or "[]"
    ):
        _say(f"queue {q['name']}: {q['type']}, leader {q.get('leader')}, replicas {q.get('members')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the nodes keep everything")
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help="AMQP port of the first node")
    parser.add_argument("--nodes", type=int, default=DEFAULT_SIZE, help="how many nodes (default 3)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    if not 1024 <= args.base_port <= 65535 - DIST_PORT_OFFSET - args.nodes:
        parser.error(f"--base-port must leave room for the distribution ports (+{DIST_PORT_OFFSET})")
    cluster = Cluster(args.dir, args.base_port, args.nodes)
    try:
        if args.command == "start":
            cluster.start(load_settings().retry_delays_ms)
            _say("point the system at it with:")
            print(f"  export {cluster.settings_line()}")
        elif args.command == "stop":
            cluster.stop()
        elif args.command == "status":
            print_status(cluster)
        else:
            print(cluster.settings_line())
    except (ClusterError, SettingsError) as exc:
        print(f"rabbit-cluster: error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("rabbit-cluster: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
