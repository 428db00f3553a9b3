"""The gRPC service config published for clients (issue 22, deploy/grpc/service_config.json): it retries
only idempotent reads, on UNAVAILABLE and RESOURCE_EXHAUSTED, and learns the delay a refusal gives."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
from medins.collection.v1 import collection_service_pb2 as col
from medins.enrollment.v1 import enrollment_check_service_pb2 as chk
from medins.registration.v1 import registration_service_pb2 as reg

from ops.cli.retrying import idempotent
from services.common.errors import ResourceExhausted
from services.common.grpc_errors import to_grpc_status

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "grpc" / "service_config.json"
SERVICES = {s.full_name: s for module in (chk, col, reg) for s in module.DESCRIPTOR.services_by_name.values()}


def test_only_reads_of_our_services_are_retried() -> None:
    config = json.loads(CONFIG.read_text())
    named = [(n["service"], n["method"]) for entry in config["methodConfig"] for n in entry["name"]]
    assert named and len(named) == len(set(named))
    for service, method in named:
        assert method in SERVICES[service].methods_by_name, f"{service}/{method} is no method"
        assert idempotent(f"/{service}/{method}", None), f"{method} is not a read: a retry could do it twice"
    for entry in config["methodConfig"]:
        assert set(entry["retryPolicy"]["retryableStatusCodes"]) == {"UNAVAILABLE", "RESOURCE_EXHAUSTED"}


def test_a_refusal_with_a_delay_tells_grpcs_retries_too() -> None:
    status = to_grpc_status(ResourceExhausted("OVERLOADED", "busy", "繁忙", retry_after=0.25))
    assert ("grpc-retry-pushback-ms", "250") in status.trailing_metadata
    assert status.code is grpc.StatusCode.RESOURCE_EXHAUSTED
