"""The ports the tests hand their child processes (ops/free_ports.py)."""

from __future__ import annotations

import random
import socket

import pytest

from ops import free_ports
from ops.free_ports import _ephemeral_start, free_port


def test_ports_are_below_the_ephemeral_range_and_never_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(20000 <= port < _ephemeral_start() for port in ports)


def test_a_port_someone_listens_on_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh record of handed-out ports: earlier tests in this process may hold the quiet port below.
    monkeypatch.setattr(free_ports, "_handed_out", set())
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        quiet = next(port for port in range(20000, 30000) if free_ports._is_free(port, "127.0.0.1"))
        # The draw offers the taken port first, then the quiet one (and only it thereafter).
        draws = iter([taken])
        monkeypatch.setattr(random, "randint", lambda _low, _high: next(draws, quiet))
        assert free_ports.free_port() == quiet
