"""Ports for local processes the tests, drills and benchmarks start.

Binding port 0 and closing the socket hands back an *ephemeral* port: the range the kernel also gives
every outgoing connection. Between choosing such a port and the child process binding it, one of the
system's own connections to PostgreSQL or RabbitMQ may take it, and the child dies with "Address
already in use" (CI saw a worker's /metrics port go that way). So ports are chosen below the ephemeral
range, where outgoing connections never land, checked free, and never handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000
_handed_out: set[int] = set()
_lock = threading.Lock()


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _is_free(port: int, host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on host that nothing listens on, outside the ephemeral range, new to this process."""
    highest = _ephemeral_start() - 1
    if highest - _LOWEST < 1000:
        # A kernel whose ephemeral range starts low leaves no quiet range: take what it gives.
        highest = 60999
    with _lock:
        for _ in range(1000):
            port = random.randint(_LOWEST, highest)
            if port not in _handed_out and _is_free(port, host):
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free port between {_LOWEST} and {highest} on {host}")
