"""The custom resources (RabbitmqCluster, CloudNativePG Cluster) parse and use only fields, types and
values the operators' published schemas define (tests/deploy/crd_schemas.py); their core-typed parts
(resources, affinity) validate against the Kubernetes schemas."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from ops.k8s_render import Manifest
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.manifests import KUSTOMIZATIONS, named, rendered
from tests.deploy.test_k8s import KUBERNETES_VERSION

WHICH = sorted(KUSTOMIZATIONS)


def _custom(which: str) -> list[Manifest]:
    return [m for m in rendered(which) if (m["apiVersion"], m["kind"]) in SCHEMAS]


def _errors(manifest: Manifest) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMAS[(manifest["apiVersion"], manifest["kind"])])
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def _as_pod(name: str, *, resources: Any = None, affinity: Any = None) -> Manifest:
    """A Pod carrying a custom resource's core-typed fields, for the Kubernetes schema to check them."""
    pod: Manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "i", **({"resources": resources} if resources else {})}]},
    }
    if affinity is not None:
        pod["spec"]["affinity"] = affinity
    return pod


def test_our_schemas_are_valid_json_schemas() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("which", WHICH)
def test_custom_resources_use_only_published_fields_types_and_values(which: str) -> None:
    custom = _custom(which)
    assert {(m["apiVersion"], m["kind"]) for m in custom} <= set(SCHEMAS)
    assert {(m["apiVersion"], m["kind"]) for m in _custom("production")} == set(SCHEMAS)  # each schema is used
    for manifest in custom:
        assert _errors(manifest) == [], manifest["metadata"]["name"]


@pytest.mark.parametrize("which", WHICH)
def test_core_typed_fields_of_custom_resources_validate_as_kubernetes_types(which: str) -> None:
    for manifest in _custom(which):
        spec = manifest["spec"]
        pod = _as_pod(manifest["metadata"]["name"], resources=spec.get("resources"))
        if manifest["kind"] == "RabbitmqCluster":
            # The operator's affinity is the core Affinity type; CloudNativePG's is its own (schema above).
            pod["spec"]["affinity"] = spec.get("affinity")
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("kind", "name", "change", "complaint"),
    [
        ("Cluster", "tax-db", lambda s: s.update(instance=3), "instance"),
        ("Cluster", "tax-db", lambda s: s.pop("instances"), "instances"),
        ("Cluster", "tax-db", lambda s: s.update(instances=0), "instances"),
        ("Cluster", "tax-db", lambda s: s.update(primaryUpdateStrategy="automatic"), "primaryUpdateStrategy"),
        ("Cluster", "tax-db", lambda s: s["postgresql"]["parameters"].update(max_connections=300), "max_connections"),
        ("Cluster", "tax-db", lambda s: s["storage"].update(size="lots"), "size"),
        ("RabbitmqCluster", "medins-rabbitmq", lambda s: s.update(replicas="3"), "replicas"),
        ("RabbitmqCluster", "medins-rabbitmq", lambda s: s["persistence"].update(size="20Gi"), "size"),
        ("RabbitmqCluster", "medins-rabbitmq", lambda s: s.update(service={"type": "Headless"}), "service"),
    ],
)
def test_a_field_the_operator_does_not_define_or_a_wrong_value_is_refused(
    kind: str, name: str, change: Any, complaint: str
) -> None:
    manifest = copy.deepcopy(named("production", kind, name))
    change(manifest["spec"])
    errors = _errors(manifest)
    assert errors, f"{complaint} was accepted"
    assert any(complaint in e for e in errors), errors


def test_a_wrong_core_typed_field_inside_a_custom_resource_is_refused() -> None:
    spec = named("base", "RabbitmqCluster", "medins-rabbitmq")["spec"]
    affinity = copy.deepcopy(spec["affinity"])
    affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologykey"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(_as_pod("rmq", affinity=affinity), KUBERNETES_VERSION, strict=True)
