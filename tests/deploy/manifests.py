"""The deployment files under test, loaded once: compose, and the rendered kustomize base and overlay."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ops.k8s_render import Manifest, render

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
KUSTOMIZATIONS = {"base": BASE, "production": PRODUCTION}
GRPC_SERVICES = ("registration", "enrollment", "collection")


@cache
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


@cache
def rendered(which: str) -> tuple[Manifest, ...]:
    return tuple(render(KUSTOMIZATIONS[which]))


def of_kind(which: str, kind: str) -> list[Manifest]:
    return [m for m in rendered(which) if m["kind"] == kind]


def named(which: str, kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(which, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"{which}: expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{deployment['metadata']['name']}: one container per pod"
    return containers[0]
