"""Issue 9: the signing secret and the page-token key have no usable defaults outside development."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.collection.channels.key_reload import channel_key_store
from services.common.settings import DEV_FILES, Settings, load_settings

REAL = "r" * 40
ROOT = Path(__file__).resolve().parents[2]


def test_development_reads_the_simulators_channel_keys() -> None:
    """R42: no channel secret; a developer's processes read `make channel-keys`' verify/ directory."""
    assert Settings(environment="development").channel_keys_path == DEV_FILES / "channel-keys" / "verify"


@pytest.mark.parametrize(
    ("channel_keys_dir", "page_token_key", "named"),
    [
        ("/etc/medins/channel-keys", "demo-page-token-key", "MEDINS_PAGE_TOKEN_KEY"),
        ("/etc/medins/channel-keys", "short", "MEDINS_PAGE_TOKEN_KEY"),
    ],
)
def test_production_refuses_demo_or_short_secrets(
    monkeypatch: pytest.MonkeyPatch, channel_keys_dir: str, page_token_key: str, named: str
) -> None:
    monkeypatch.setenv("MEDINS_ENVIRONMENT", "production")
    monkeypatch.setenv("MEDINS_CHANNEL_KEYS_DIR", channel_keys_dir)
    monkeypatch.setenv("MEDINS_PAGE_TOKEN_KEY", page_token_key)
    with pytest.raises(SystemExit) as refused:
        load_settings()
    assert named in str(refused.value) and "Traceback" not in str(refused.value)


def test_a_production_process_that_verifies_channels_refuses_to_start_without_their_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """R42: the collection service and the callback endpoint need MEDINS_CHANNEL_KEYS_DIR in production
    (never the simulators' keys); the insurance agency's processes, which believe no channel, do not."""
    monkeypatch.setenv("MEDINS_ENVIRONMENT", "production")
    monkeypatch.setenv("MEDINS_PAGE_TOKEN_KEY", REAL + "k")
    monkeypatch.setenv("MEDINS_TLS_REQUIRED", "true")
    monkeypatch.setenv("MEDINS_TLS_DIR", "/etc/medins/tls")
    settings = load_settings()
    with pytest.raises(SystemExit) as refused:
        channel_key_store(settings)
    assert "MEDINS_CHANNEL_KEYS_DIR" in str(refused.value)


def test_production_starts_with_real_secrets_and_mutual_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDINS_ENVIRONMENT", "production")
    monkeypatch.setenv("MEDINS_CHANNEL_KEYS_DIR", "/etc/medins/channel-keys")
    monkeypatch.setenv("MEDINS_PAGE_TOKEN_KEY", REAL + "k")
    monkeypatch.setenv("MEDINS_TLS_REQUIRED", "true")
    monkeypatch.setenv("MEDINS_TLS_DIR", "/etc/medins/tls")
    assert load_settings().environment == "production"


def test_production_refuses_plaintext_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    """R35: without mutual TLS every caller is the development identity, which may call everything."""
    monkeypatch.setenv("MEDINS_ENVIRONMENT", "production")
    monkeypatch.setenv("MEDINS_CHANNEL_KEYS_DIR", "/etc/medins/channel-keys")
    monkeypatch.setenv("MEDINS_PAGE_TOKEN_KEY", REAL + "k")
    with pytest.raises(ValidationError, match="MEDINS_TLS_REQUIRED"):
        Settings()


@pytest.mark.parametrize("service", ["services.registration", "services.enrollment", "services.collection"])
def test_a_service_in_production_with_demo_secrets_refuses_to_start(service: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDINS_")}
    started = subprocess.run(
        [sys.executable, "-m", service],
        env={**env, "MEDINS_ENVIRONMENT": "production"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert "MEDINS_PAGE_TOKEN_KEY" in started.stderr and "Traceback" not in started.stderr


@pytest.mark.parametrize("value", ["-1", "20", "high"])
def test_a_niceness_outside_0_to_19_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MEDINS_NICENESS", value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("hours", ["0", "24", "47"])
def test_request_ids_are_never_kept_less_than_48_hours(monkeypatch: pytest.MonkeyPatch, hours: str) -> None:
    """R43: request ids outlive the channels' retries (WeChat Pay 24 h 4 min, Alipay 25 h): at least 48 h."""
    monkeypatch.setenv("MEDINS_IDEMPOTENCY_RETENTION_HOURS", hours)
    with pytest.raises(ValidationError, match="idempotency_retention_hours"):
        Settings()


def test_request_ids_are_kept_a_week_by_default_and_48_hours_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """R43: the default keeps request ids for 7 days; 48 h is the least a deployment may set."""
    assert Settings().idempotency_retention_hours == 24 * 7
    monkeypatch.setenv("MEDINS_IDEMPOTENCY_RETENTION_HOURS", "48")
    assert Settings().idempotency_retention_hours == 48


def test_a_cluster_of_postgresql_nodes_gives_a_multi_host_dsn_that_finds_the_primary() -> None:
    """Issue 24: every process connects through one connection string naming every node."""
    settings = Settings(pg_hosts="db1:5441, db2:5442,db3", pg_password="pw")  # type: ignore[arg-type]
    assert settings.pg_endpoints == (("db1", 5441), ("db2", 5442), ("db3", 5432))
    assert (
        settings.tax_dsn
        == "postgresql://postgres:pw@db1:5441,db2:5442,db3:5432/medins_tax?target_session_attrs=read-write"
    )
    assert Settings().insurance_dsn == "postgresql://postgres@127.0.0.1:5432/medins_insurance"


def test_a_postgresql_node_that_is_not_host_port_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="MEDINS_PG_HOSTS: not host:port: 'db1:54x'"):
        Settings(pg_hosts="db1:54x")  # type: ignore[arg-type]
