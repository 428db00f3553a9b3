"""deploy/compose.yaml validates against the compose specification and runs every process of the system."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ops.processes import CALLBACKS, PROCESSES
from services.common.settings import Settings
from tests.deploy.manifests import COMPOSE, GRPC_SERVICES, ROOT, compose

CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_file_validates_against_the_compose_spec() -> None:
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_a_compose_file_with_an_unknown_service_key(tmp_path: Path) -> None:
    broken = compose() | {"services": {**compose()["services"], "registration": {"image": "x", "helthcheck": {}}}}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = _validate(path)
    assert result.returncode != 0
    assert "helthcheck" in result.stdout + result.stderr


def test_every_process_runs_as_its_own_service_with_its_module_as_command() -> None:
    services = compose()["services"]
    for spec in PROCESSES:
        assert spec.name in services, f"{spec.name} of ops/processes.py is missing from compose"
        assert spec.args[0] == "-m"
        # The image's entrypoint is `python -m`, so the command is the rest of the process's arguments.
        assert services[spec.name]["command"] == list(spec.args[1:])


def test_every_process_waits_for_setup_has_a_health_check_and_restarts() -> None:
    services = compose()["services"]
    for spec in PROCESSES:
        service = services[spec.name]
        assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["restart"] == "unless-stopped"
        assert service["healthcheck"]["test"][0] == "CMD"


def test_grpc_services_are_probed_over_grpc_health_on_their_own_port() -> None:
    services = compose()["services"]
    ports = {name: getattr(Settings(), f"{name}_port") for name in GRPC_SERVICES}
    for name, port in ports.items():
        test = services[name]["healthcheck"]["test"]
        assert test[1:] == ["python", "-m", "ops.grpc_health_probe", f"127.0.0.1:{port}"]
        assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_workers_are_probed_for_their_own_module() -> None:
    services = compose()["services"]
    for spec in PROCESSES:
        if spec.name in GRPC_SERVICES:
            continue
        test = services[spec.name]["healthcheck"]["test"]
        assert test[1:] == ["python", "-m", "ops.worker_probe", spec.args[1], "--ready"]


def test_the_processes_that_believe_channels_mount_the_channels_own_keys_where_settings_read_them() -> None:
    """R42: no secret shared between channels; the collection service and the callback endpoint (R44)
    read one directory of each channel's own keys, mounted read-only where MEDINS_CHANNEL_KEYS_DIR says."""
    services = compose()["services"]
    for name in ("collection", "callbacks"):
        keys_dir = services[name]["environment"]["MEDINS_CHANNEL_KEYS_DIR"]
        mounts = [m.rsplit(":", 2) for m in services[name]["volumes"]]
        assert [m[1:] for m in mounts if m[1] == keys_dir] == [[keys_dir, "ro"]], name
    callbacks = services["callbacks"]
    port = Settings().callbacks_port
    assert callbacks["command"] == list(CALLBACKS.args[1:])
    assert callbacks["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"http://127.0.0.1:{port}/healthz" in callbacks["healthcheck"]["test"][-1]


def test_setup_is_one_shot_and_runs_after_the_database_and_broker_are_healthy() -> None:
    setup = compose()["services"]["setup"]
    assert setup["command"] == ["ops.setup"]
    assert setup["restart"].startswith("on-failure")
    assert {name: dep["condition"] for name, dep in setup["depends_on"].items()} == {
        "postgres": "service_healthy",
        "rabbitmq": "service_healthy",
    }


def test_postgres_init_script_creates_one_database_per_agency() -> None:
    postgres = compose()["services"]["postgres"]
    mounts = [m for m in postgres["volumes"] if "docker-entrypoint-initdb.d" in m]
    assert len(mounts) == 1
    script = (COMPOSE.parent / mounts[0].split(":")[0]).read_text()
    environment = compose()["services"]["registration"]["environment"]
    for database in (environment["MEDINS_INSURANCE_DB"], environment["MEDINS_TAX_DB"]):
        assert f"CREATE DATABASE {database};" in script
    assert {environment["MEDINS_INSURANCE_DB"], environment["MEDINS_TAX_DB"]} == {
        Settings().insurance_db,
        Settings().tax_db,
    }


def test_rabbitmq_has_the_management_plugin_and_processes_reach_it_by_service_name() -> None:
    services = compose()["services"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert "127.0.0.1:15672:15672" in services["rabbitmq"]["ports"]
    user = services["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"]
    url = services["registration"]["environment"]["MEDINS_AMQP_URL"]
    assert url.startswith(f"amqp://{user}:") and url.endswith("@rabbitmq:5672/")


def test_processes_listen_on_all_interfaces_inside_their_container() -> None:
    for spec in PROCESSES:
        assert compose()["services"][spec.name]["environment"]["MEDINS_LISTEN_HOST"] == "0.0.0.0"


# The OpenTelemetry SDK's own variables (services/common/tracing.py), issue 24.
OTEL_VARIABLES = {"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_INSECURE"}


def test_compose_sets_only_variables_that_settings_or_the_tracing_sdk_reads() -> None:
    known = {f"MEDINS_{field.upper()}" for field in Settings.model_fields} | OTEL_VARIABLES
    for spec in PROCESSES:
        environment = compose()["services"][spec.name]["environment"]
        assert set(environment) <= known, sorted(set(environment) - known)


def test_compose_builds_the_image_from_the_repository_dockerfile() -> None:
    build = compose()["services"]["registration"]["build"]
    assert (COMPOSE.parent / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).is_file()


def test_every_process_sends_its_traces_to_the_collector_which_passes_them_to_jaeger() -> None:
    """Issue 24: one payment's trace, from every process it crosses, ends up in one Jaeger."""
    services = compose()["services"]
    for spec in PROCESSES:
        environment = services[spec.name]["environment"]
        assert environment["OTEL_TRACES_EXPORTER"] == "otlp"
        assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
    collector = yaml.safe_load((COMPOSE.parent / "otel" / "collector.yaml").read_text())
    mounted = services["otel-collector"]["volumes"][0].split(":")
    assert (COMPOSE.parent / mounted[0]).resolve() == (COMPOSE.parent / "otel" / "collector.yaml").resolve()
    assert services["otel-collector"]["command"] == [f"--config={mounted[1]}"]
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    (pipeline,) = collector["service"]["pipelines"].values()
    (exporter,) = pipeline["exporters"]
    assert collector["exporters"][exporter]["endpoint"] == "jaeger:4317"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
