"""The Kubernetes manifests (kustomize base and production overlay) validate and carry what running
the system needs: probes, resources, a PDB, an HPA and a headless Service per gRPC service, every
process of ops/processes.py, Secrets by reference only."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from ops.k8s_render import Manifest
from ops.processes import CALLBACKS, PROCESSES
from services.common.identity import CallerKind, parse_identity
from services.common.settings import Settings
from services.common.tls import TlsFiles
from tests.deploy.manifests import GRPC_SERVICES, KUSTOMIZATIONS, container, named, of_kind, rendered

# The oldest Kubernetes these manifests are written for: native gRPC probes are GA since 1.27 and the
# preStop `sleep` action is on by default since 1.30.
KUBERNETES_VERSION = "1.32"
CUSTOM_KINDS = {("rabbitmq.com/v1beta1", "RabbitmqCluster"), ("postgresql.cnpg.io/v1", "Cluster")}
# Production also schedules the databases' base backups (issue 24).
CUSTOM_KINDS_OF = {"base": CUSTOM_KINDS, "production": CUSTOM_KINDS | {("postgresql.cnpg.io/v1", "ScheduledBackup")}}
WHICH = sorted(KUSTOMIZATIONS)
AGENCY_OF = {
    "registration": "insurance",
    "enrollment": "insurance",
    "coverage": "insurance",
    "renewal": "insurance",
    "age-out": "insurance",
    "outbox-relay-insurance": "insurance",
    "collection": "tax",
    "assessment": "tax",
    "order-expiry": "tax",
    "payment-query": "tax",
    "refunds": "tax",
    "deductions": "tax",
    "reminders": "tax",
    "outbox-relay-tax": "tax",
    "callbacks": "tax",
}


def _core(which: str) -> list[Manifest]:
    return [m for m in rendered(which) if (m["apiVersion"], m["kind"]) not in CUSTOM_KINDS_OF[which]]


def _deployment_of(which: str, process: str) -> Manifest:
    return named(which, "Deployment", process)


def _port(name: str) -> int:
    port: int = getattr(Settings(), f"{name}_port")
    return port


@pytest.mark.parametrize("which", WHICH)
def test_core_kinds_validate_strictly_against_the_kubernetes_schemas(which: str) -> None:
    for manifest in _core(which):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("which", WHICH)
def test_only_the_operators_kinds_are_custom_resources(which: str) -> None:
    custom = {(m["apiVersion"], m["kind"]) for m in rendered(which)} - {
        (m["apiVersion"], m["kind"]) for m in _core(which)
    }
    assert custom == CUSTOM_KINDS_OF[which]
    for api_version, kind in CUSTOM_KINDS_OF[which]:
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate({"apiVersion": api_version, "kind": kind}, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_a_misspelled_field() -> None:
    deployment = copy.deepcopy(_deployment_of("base", "registration"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"grpc": {"port": 50051}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("which", WHICH)
def test_every_process_has_a_deployment_in_its_agencys_namespace(which: str) -> None:
    for spec in (*PROCESSES, CALLBACKS):
        deployment = _deployment_of(which, spec.name)
        assert deployment["metadata"]["namespace"] == f"medins-{AGENCY_OF[spec.name]}"
        assert container(deployment)["args"] == list(spec.args[1:])
    assert {d["metadata"]["name"] for d in of_kind(which, "Deployment")} == {s.name for s in (*PROCESSES, CALLBACKS)}


@pytest.mark.parametrize("which", WHICH)
def test_every_deployment_has_probes_and_resources(which: str) -> None:
    for deployment in of_kind(which, "Deployment"):
        main = container(deployment)
        name = deployment["metadata"]["name"]
        assert "readinessProbe" in main and "livenessProbe" in main, name
        requests = main["resources"]["requests"]
        assert {"cpu", "memory"} <= set(requests), name
        assert "memory" in main["resources"]["limits"], name


def test_grpc_services_use_native_grpc_probes_on_their_port_in_plaintext() -> None:
    which = "base"
    for name in GRPC_SERVICES:
        main = container(_deployment_of(which, name))
        assert main["ports"] == [{"name": "grpc", "containerPort": _port(name), "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert main[probe]["grpc"]["port"] == _port(name), f"{name} {probe}"
        # Readiness asks about the service itself, which the server marks SERVING once its pool is up.
        assert main["readinessProbe"]["grpc"]["service"].endswith("Service")


@pytest.mark.parametrize("which", WHICH)
def test_workers_are_probed_for_their_own_module(which: str) -> None:
    for spec in PROCESSES:
        if spec.name in GRPC_SERVICES:
            continue
        main = container(_deployment_of(which, spec.name))
        probe = ["python", "-m", "ops.worker_probe", spec.args[1]]
        assert main["livenessProbe"]["exec"]["command"] == probe
        assert main["readinessProbe"]["exec"]["command"] == [*probe, "--ready"]


@pytest.mark.parametrize("which", WHICH)
def test_each_grpc_service_has_a_pdb_an_hpa_and_a_headless_service(which: str) -> None:
    for name in GRPC_SERVICES:
        deployment = _deployment_of(which, name)
        namespace = deployment["metadata"]["namespace"]
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

        pdb = named(which, "PodDisruptionBudget", name)
        assert pdb["metadata"]["namespace"] == namespace
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()

        hpa = named(which, "HorizontalPodAutoscaler", name)
        assert hpa["metadata"]["namespace"] == namespace
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]

        service = named(which, "Service", name)
        assert service["metadata"]["namespace"] == namespace
        assert service["spec"]["clusterIP"] == "None", "headless, for client-side round-robin over pod IPs"
        assert service["spec"]["selector"].items() <= pod_labels.items()
        assert service["spec"]["ports"][0]["port"] == _port(name)
        assert service["spec"]["ports"][0]["appProtocol"] == "grpc"


def test_production_scales_the_services_beyond_the_base() -> None:
    for name in GRPC_SERVICES:
        base, production = (named(w, "HorizontalPodAutoscaler", name)["spec"] for w in ("base", "production"))
        assert production["minReplicas"] > base["minReplicas"]
        assert production["maxReplicas"] > base["maxReplicas"]


@pytest.mark.parametrize("which", WHICH)
def test_a_pdb_never_blocks_every_eviction(which: str) -> None:
    for name in GRPC_SERVICES:
        pdb = named(which, "PodDisruptionBudget", name)["spec"]
        minimum = named(which, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"]
        assert pdb.get("maxUnavailable", 0) >= 1 or pdb["minAvailable"] < minimum


def test_images_are_the_release_in_production_and_the_local_build_in_base() -> None:
    for which, image in (("base", "medins:dev"), ("production", "registry.medins.internal/medins:0.1.0")):
        for workload in of_kind(which, "Deployment") + of_kind(which, "Job"):
            assert container(workload)["image"] == image


def _secret_references(manifest: Manifest) -> list[str]:
    pod = manifest["spec"]["template"]["spec"]
    names = [v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v]
    for env in container(manifest).get("env", []):
        reference = env.get("valueFrom", {}).get("secretKeyRef")
        assert reference is not None or "value" in env, env
        if reference is not None:
            names.append(reference["name"])
    return names


@pytest.mark.parametrize("which", WHICH)
def test_secrets_are_referenced_never_committed(which: str) -> None:
    assert of_kind(which, "Secret") == []
    for workload in of_kind(which, "Deployment") + of_kind(which, "Job"):
        for env in container(workload).get("env", []):
            is_secret = any(word in env["name"] for word in ("PASSWORD", "SECRET", "AMQP_URL"))
            assert not (is_secret and "value" in env), f"{env['name']} given in clear"
        assert _secret_references(workload), workload["metadata"]["name"]


@pytest.mark.parametrize("which", WHICH)
def test_each_agency_reaches_only_its_own_database(which: str) -> None:
    clusters = {c["metadata"]["name"]: c for c in of_kind(which, "Cluster")}
    assert set(clusters) == {"insurance-db", "tax-db"}
    for agency in ("insurance", "tax"):
        namespace = f"medins-{agency}"
        config = next(c for c in of_kind(which, "ConfigMap") if c["metadata"]["namespace"] == namespace)
        assert config["data"]["MEDINS_PG_HOST"] == f"{agency}-db-rw"
        assert clusters[f"{agency}-db"]["metadata"]["namespace"] == namespace
        database = clusters[f"{agency}-db"]["spec"]["bootstrap"]["initdb"]["database"]
        assert database == getattr(Settings(), f"{agency}_db")
    for workload in of_kind(which, "Deployment") + of_kind(which, "Job"):
        agency = workload["metadata"]["namespace"].removeprefix("medins-")
        db_secrets = {n for n in _secret_references(workload) if n.endswith("-db-app")}
        assert db_secrets == {f"{agency}-db-app"}, workload["metadata"]["name"]


@pytest.mark.parametrize("which", WHICH)
def test_each_agency_database_has_a_migration_job(which: str) -> None:
    jobs = {j["metadata"]["namespace"]: container(j)["args"] for j in of_kind(which, "Job")}
    assert jobs == {"medins-insurance": ["ops.migrate", "insurance"], "medins-tax": ["ops.migrate", "tax"]}


def test_production_databases_replicate_synchronously_across_three_instances() -> None:
    for cluster in of_kind("production", "Cluster"):
        assert cluster["spec"]["instances"] == 3
        assert cluster["spec"]["postgresql"]["synchronous"]["dataDurability"] == "required"


def test_rabbitmq_is_a_three_node_cluster() -> None:
    for which in WHICH:
        (cluster,) = of_kind(which, "RabbitmqCluster")
        assert cluster["spec"]["replicas"] == 3


def _labels_match(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and In/NotIn/Exists/DoesNotExist expressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def _peer_admits(peer: dict[str, Any], source: tuple[str, dict[str, str], dict[str, str]], namespace: str) -> bool:
    source_namespace, namespace_labels, pod_labels = source
    if "ipBlock" in peer:  # the sources here carry no address: only a block open to all admits them
        return bool(peer["ipBlock"]["cidr"] == "0.0.0.0/0" and not peer["ipBlock"].get("except"))
    if "namespaceSelector" in peer:
        namespace_ok = _labels_match(peer["namespaceSelector"], namespace_labels)
    else:
        namespace_ok = source_namespace == namespace
    pod_ok = _labels_match(peer["podSelector"], pod_labels) if "podSelector" in peer else True
    return namespace_ok and pod_ok


def reachable(which: str, source: tuple[str, dict[str, str], dict[str, str]], target: str, port: int) -> bool:
    """Whether the NetworkPolicies admit a pod (namespace, namespace labels, pod labels) to the target's port."""
    deployment = _deployment_of(which, target)
    namespace = deployment["metadata"]["namespace"]
    target_labels = deployment["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in of_kind(which, "NetworkPolicy")
        if p["metadata"]["namespace"] == namespace and _labels_match(p["spec"]["podSelector"], target_labels)
    ]
    assert policies, f"{target} is selected by no NetworkPolicy (and so open to all)"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            if ports and port not in ports:
                continue
            if any(_peer_admits(peer, source, namespace) for peer in rule.get("from", [])):
                return True
    return False


def _caller(kind: str) -> tuple[str, dict[str, str], dict[str, str]]:
    return (f"partner-{kind}", {"medins.io/caller": kind}, {"app": "client"})


def _agency_pod(agency: str) -> tuple[str, dict[str, str], dict[str, str]]:
    labels = {"medins.io/agency": agency}
    return (f"medins-{agency}", labels, labels | {"app.kubernetes.io/name": "any"})


@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (_agency_pod("tax"), "enrollment", True),
        (_caller("hospital"), "enrollment", True),
        (_caller("other-city"), "enrollment", True),
        (_caller("payment-channel"), "enrollment", False),
        (_caller("payment-channel"), "collection", True),
        (_caller("payer-portal"), "collection", True),
        (_caller("hospital"), "collection", False),
        (_agency_pod("insurance"), "collection", False),
        (_caller("insurance-officer"), "registration", True),
        (_caller("school"), "registration", True),
        (_agency_pod("tax"), "registration", False),
        (_caller("hospital"), "registration", False),
        (_caller("payment-channel"), "registration", False),
    ],
)
def test_only_the_right_callers_reach_each_service(
    which: str, source: tuple[str, dict[str, str], dict[str, str]], target: str, allowed: bool
) -> None:
    assert reachable(which, source, target, _port(target)) is allowed


@pytest.mark.parametrize("which", WHICH)
def test_the_callback_endpoint_is_https_with_the_channels_keys_and_keeps_the_callers_address(which: str) -> None:
    """R44: channels call over HTTPS from the internet with no client certificate; the endpoint's
    allow-list needs their address (a LoadBalancer keeping it), and it verifies with each channel's own
    keys where MEDINS_CHANNEL_KEYS_DIR says (R42); only its HTTPS port is open."""
    deployment = _deployment_of(which, "callbacks")
    main = container(deployment)
    port = Settings().callbacks_port
    assert main["ports"] == [{"name": "https", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": port, "scheme": "HTTPS"}, probe
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    config = _config(which, "medins-tax")
    assert mounts["channel-keys"] == config["MEDINS_CHANNEL_KEYS_DIR"]
    (tls_dir,) = [e["value"] for e in main["env"] if e["name"] == "MEDINS_CALLBACKS_TLS_DIR"]
    assert mounts["callbacks-tls"] == tls_dir
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    laid_out = {item["path"] for item in volumes["callbacks-tls"]["secret"]["items"]}
    assert {Path(tls_dir) / p for p in laid_out} == set(TlsFiles(Path(tls_dir)).server("callbacks"))
    (service,) = [s for s in of_kind(which, "Service") if s["metadata"]["name"] == "callbacks"]
    assert service["spec"]["type"] == "LoadBalancer" and service["spec"]["externalTrafficPolicy"] == "Local"
    anyone: tuple[str, dict[str, str], dict[str, str]] = ("internet", {}, {})
    assert reachable(which, anyone, "callbacks", port) is True
    assert reachable(which, anyone, "callbacks", 9464) is False


def test_a_caller_let_in_on_the_grpc_port_is_not_let_in_on_another_port() -> None:
    assert reachable("base", _caller("hospital"), "enrollment", 5432) is False


@pytest.mark.parametrize("which", WHICH)
def test_every_namespace_denies_ingress_by_default(which: str) -> None:
    namespaces = {n["metadata"]["name"] for n in of_kind(which, "Namespace")}
    denying = {
        p["metadata"]["namespace"]
        for p in of_kind(which, "NetworkPolicy")
        if p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in p["spec"]
    }
    assert denying == namespaces


@pytest.mark.parametrize("which", WHICH)
def test_our_pods_meet_the_restricted_pod_security_standard(which: str) -> None:
    # The agency namespaces enforce pod-security "restricted"; a pod that does not meet it is refused.
    for workload in of_kind(which, "Deployment") + of_kind(which, "Job"):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        security = container(workload)["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert security["readOnlyRootFilesystem"] is True, name
    for namespace in of_kind(which, "Namespace"):
        if namespace["metadata"]["labels"]["medins.io/agency"] in {"insurance", "tax"}:
            assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("which", WHICH)
def test_autoscaled_deployments_leave_the_replica_count_to_their_hpa(which: str) -> None:
    # A replica count in the manifest would reset the HPA's choice at every apply.
    for name in GRPC_SERVICES:
        assert "replicas" not in _deployment_of(which, name)["spec"]


def _config(which: str, namespace: str) -> dict[str, str]:
    found = [m for m in of_kind(which, "ConfigMap") if m["metadata"]["namespace"] == namespace]
    assert len(found) == 1
    data: dict[str, str] = found[0]["data"]
    return data


def test_production_runs_in_production_mode_under_mutual_tls_and_its_settings_load() -> None:
    """Issue 24: the settings every production pod gets (the ConfigMap, and the Secret's two values) pass
    Settings' own checks: production mode refuses plaintext and demo secrets."""
    for namespace in ("medins-insurance", "medins-tax"):
        config = _config("production", namespace)
        assert (config["MEDINS_ENVIRONMENT"], config["MEDINS_TLS_REQUIRED"]) == ("production", "true")
        secrets = {"MEDINS_PAGE_TOKEN_KEY": "p" * 40}
        values: dict[str, Any] = {k.removeprefix("MEDINS_").lower(): v for k, v in {**config, **secrets}.items()}
        settings = Settings(**values)
        assert settings.tls_required and settings.environment == "production"
        assert parse_identity(settings.tls_identity).kind is CallerKind.PROBE
    for deployment in of_kind("production", "Deployment"):
        env_from = container(deployment)["envFrom"]
        assert {"secretRef": {"name": "medins-secrets", "optional": True}} in env_from, deployment["metadata"]["name"]


def test_production_probes_present_the_probe_identity_from_the_mounted_certificates() -> None:
    """Native grpc: probes present no certificate, which the servers refuse at the handshake: production
    probes run ops.grpc_health_probe (tests/e2e/test_mtls.py runs it so against a real mTLS system), and
    the Secret's keys are laid out where services/common/tls.py reads them."""
    for name in GRPC_SERVICES:
        deployment = _deployment_of("production", name)
        main = container(deployment)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert "grpc" not in main[probe], f"{name} {probe}"
            command = main[probe]["exec"]["command"]
            assert command[:4] == ["python", "-m", "ops.grpc_health_probe", f"127.0.0.1:{_port(name)}"]
        assert main["readinessProbe"]["exec"]["command"][-2:] == ["--service", named_service(name)]
        config = _config("production", deployment["metadata"]["namespace"])
        tls_dir = Path(config["MEDINS_TLS_DIR"])
        (mount,) = [m for m in main["volumeMounts"] if m["name"] == "grpc-tls"]
        assert Path(mount["mountPath"]) == tls_dir
        (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "grpc-tls"]
        assert volume["secret"]["optional"] is False
        laid_out = {tls_dir / item["path"] for item in volume["secret"]["items"]}
        files = TlsFiles(tls_dir)
        needed = {files.ca, *files.server(name), *files.client(parse_identity(config["MEDINS_TLS_IDENTITY"]))}
        assert laid_out == needed, name


def named_service(name: str) -> str:
    """The gRPC service a server's readiness is asked about (the base's native probe names it)."""
    service: str = container(_deployment_of("base", name))["readinessProbe"]["grpc"]["service"]
    return service
