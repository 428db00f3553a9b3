"""The Patroni configuration of one node of the local failover cluster (ops/pg_ha.py), issue 24."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCOPE = "medins"
# Failure detection: the leader key lives TTL seconds; a standby takes over once it expires.
TTL_SECONDS, LOOP_WAIT_SECONDS, RETRY_TIMEOUT_SECONDS = 10, 1, 4


class NodeLike(Protocol):
    """What the configuration needs of a node (ops/pg_ha.py's Node)."""

    @property
    def name(self) -> str: ...

    @property
    def pg_port(self) -> int: ...

    @property
    def rest_port(self) -> int: ...

    @property
    def directory(self) -> Path: ...

    @property
    def data(self) -> Path: ...


def patroni_config(node: NodeLike, etcd_client_port: int) -> dict[str, Any]:
    """One node's patroni.yml: synchronous mode, fast failure detection, PostgreSQL 15 on 127.0.0.1."""
    local = f"127.0.0.1:{node.pg_port}"
    return {
        "scope": SCOPE,
        "namespace": "/medins/",
        "name": node.name,
        "restapi": {"listen": f"127.0.0.1:{node.rest_port}", "connect_address": f"127.0.0.1:{node.rest_port}"},
        "etcd3": {"hosts": [f"127.0.0.1:{etcd_client_port}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL_SECONDS,
                "loop_wait": LOOP_WAIT_SECONDS,
                "retry_timeout": RETRY_TIMEOUT_SECONDS,
                "maximum_lag_on_failover": 1_048_576,
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_connections": 200,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "256MB",
                        "shared_buffers": "64MB",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "pg_hba": [
                "local all all trust",
                "host all all 127.0.0.1/32 trust",
                "host replication replicator 127.0.0.1/32 trust",
            ],
        },
        "postgresql": {
            "listen": local,
            "connect_address": local,
            "data_dir": str(node.data.resolve()),
            "bin_dir": str(PG_BIN),
            "pgpass": str((node.directory / "pgpass").resolve()),
            "authentication": {
                "superuser": {"username": "postgres", "password": "medins-ha"},
                "replication": {"username": "replicator", "password": "medins-ha"},
            },
            "parameters": {"unix_socket_directories": str(node.directory.resolve())},
        },
    }
