"""Metrics are scraped wherever the system runs (issue 13): compose runs Prometheus over every process's
/metrics port, the Kubernetes pods carry the prometheus.io annotations its scrape job reads and only
the monitoring namespace may reach that port, and the Grafana dashboard charts only series the code
defines (the platform's, services/common/metrics.py, and the collection wing's,
services/collection/metrics.py), each of them somewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.processes import CALLBACKS, PROCESSES
from services.collection import metrics as collection_metrics
from services.common import metrics
from tests.deploy.manifests import COMPOSE, KUSTOMIZATIONS, ROOT, compose, of_kind
from tests.deploy.test_k8s import reachable

DASHBOARD = ROOT / "deploy" / "grafana" / "medins.json"
PROMETHEUS = ROOT / "deploy" / "prometheus"
WHICH = sorted(KUSTOMIZATIONS)
SERIES_NAME = re.compile(r"\bmedins_[a-z0-9_]+\b")
MONITORING = ("monitoring", {"medins.io/caller": "monitoring"}, {"app.kubernetes.io/name": "prometheus"})
HOSPITAL = ("partner-hospital", {"medins.io/caller": "hospital"}, {"app": "client"})
# Every series the system defines: the platform's and each wing's own.
SERIES = (*metrics.SERIES, *collection_metrics.SERIES)


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def _exprs() -> list[str]:
    return [target["expr"] for panel in _dashboard()["panels"] for target in panel.get("targets", [])]


def _metrics_port() -> int:
    return int(compose()["services"]["registration"]["environment"]["MEDINS_METRICS_PORT"])


# -- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_is_json_with_unique_panel_ids_and_a_query_in_every_chart() -> None:
    panels = _dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    charts = [p for p in panels if p["type"] != "row"]
    assert charts and all(p.get("targets") for p in charts)


def test_every_dashboard_query_names_only_series_the_code_defines() -> None:
    defined = metrics.exposed_names(SERIES)
    for expr in _exprs():
        named = set(SERIES_NAME.findall(expr))
        assert named, f"names no medins series: {expr}"
        assert named <= defined, f"{sorted(named - defined)} in {expr!r} are not defined by any metrics module"


def test_every_series_the_code_defines_is_on_the_dashboard() -> None:
    charted = {name for expr in _exprs() for name in SERIES_NAME.findall(expr)}
    for collector in SERIES:
        for family in collector.describe():
            assert any(name.startswith(family.name) for name in charted), f"{family.name} is on no panel"


def test_the_name_check_catches_a_misspelled_series() -> None:
    assert "medins_outbox_backlog" not in metrics.exposed_names()  # the gauge is medins_outbox_backlog_rows
    assert "medins_rpc_duration_seconds_count" in metrics.exposed_names()


# -- compose ---------------------------------------------------------------------------------


def test_every_process_serves_metrics_on_the_port_prometheus_scrapes_in_compose() -> None:
    services = compose()["services"]
    port = _metrics_port()
    assert port > 0
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == sorted(f"{spec.name}:{port}" for spec in PROCESSES)
    assert job["metrics_path"] == "/metrics"
    for spec in PROCESSES:
        assert services[spec.name]["environment"]["MEDINS_METRICS_PORT"] == str(port)


def test_compose_runs_prometheus_with_its_config_and_grafana_with_the_dashboard() -> None:
    services = compose()["services"]
    mounts = {m.split(":")[0]: m.split(":")[1] for m in services["prometheus"]["volumes"] if m.startswith("./")}
    assert (COMPOSE.parent / "prometheus/prometheus.yml").resolve() == PROMETHEUS.resolve() / "prometheus.yml"
    assert mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert f"--config.file={mounts['./prometheus/prometheus.yml']}" in services["prometheus"]["command"]
    grafana = {m.split(":")[0]: m.split(":")[1] for m in services["grafana"]["volumes"] if m.startswith("./")}
    assert (COMPOSE.parent / "grafana/medins.json").resolve() == DASHBOARD.resolve()
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/medins.yml").read_text())
    assert Path(grafana["./grafana/medins.json"]).parent == Path(provider["providers"][0]["options"]["path"])
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in services["prometheus"]["ports"]


# -- Kubernetes ------------------------------------------------------------------------------


def _config_port(which: str, namespace: str) -> int:
    (config,) = [c for c in of_kind(which, "ConfigMap") if c["metadata"]["namespace"] == namespace]
    return int(config["data"]["MEDINS_METRICS_PORT"])


@pytest.mark.parametrize("which", WHICH)
def test_every_pod_is_annotated_for_scraping_at_the_port_its_config_serves(which: str) -> None:
    deployments = of_kind(which, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {spec.name for spec in (*PROCESSES, CALLBACKS)}
    for deployment in deployments:
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        port = _config_port(which, deployment["metadata"]["namespace"])
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }, deployment["metadata"]["name"]


def test_the_kubernetes_scrape_job_reads_the_annotations_the_pods_carry() -> None:
    config = yaml.safe_load((PROMETHEUS / "kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    sources = {s for rule in job["relabel_configs"] for s in rule.get("source_labels", [])}
    for annotation in ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"):
        # Prometheus turns an annotation's name into a label name: every character not [a-zA-Z0-9_] → _.
        label = "__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", annotation)
        assert label in sources, annotation
    namespaces = set(job["kubernetes_sd_configs"][0]["namespaces"]["names"])
    assert namespaces == {d["metadata"]["namespace"] for d in of_kind("base", "Deployment")}


@pytest.mark.parametrize("which", WHICH)
def test_only_the_monitoring_namespace_reaches_the_metrics_port(which: str) -> None:
    for spec in PROCESSES:
        port = _config_port(which, of_kind_named(which, spec.name)["metadata"]["namespace"])
        assert reachable(which, MONITORING, spec.name, port), spec.name
        assert not reachable(which, HOSPITAL, spec.name, port), spec.name
    # Monitoring may read metrics, not call the services.
    assert not reachable(which, MONITORING, "enrollment", 50052)
    assert not reachable(which, MONITORING, "collection", 50053)


def of_kind_named(which: str, name: str) -> dict[str, Any]:
    (deployment,) = [d for d in of_kind(which, "Deployment") if d["metadata"]["name"] == name]
    return deployment
