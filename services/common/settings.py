"""One Settings object per process, from MEDINS_* environment variables with local defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.admission import Limits, Share
from services.common.call_rates import Rate
from services.common.identity import CallerKind, InvalidIdentity, parse_identity

# The secrets' defaults work on a developer's machine only; production refuses to start with them.
DEMO_PAGE_TOKEN_KEY = "demo-page-token-key"
MIN_SECRET_CHARS = 32
# R43: channels retry a notification for up to 25 h (Alipay); request ids outlive that with a margin.
MIN_REQUEST_ID_RETENTION_HOURS = 48
# What `make channel-keys` and `make certs` write on a developer's machine (ops/channel_sim/dev_keys.py).
DEV_FILES = Path(__file__).resolve().parents[2] / ".make"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINS_", frozen=True)

    # "production" refuses demo secrets (see check_secrets).
    environment: Literal["development", "production"] = "development"

    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    # A PostgreSQL cluster with failover (Patroni, CloudNativePG), issue 24: its nodes as
    # "host:port,host:port", tried in order, every connection to one whose session matches
    # pg_target_session_attrs (libpq's multi-host connection string; read-write finds the primary
    # wherever it is now). Empty: the one server at pg_host:pg_port.
    pg_hosts: Annotated[tuple[tuple[str, int], ...], NoDecode] = ()
    pg_target_session_attrs: Literal["any", "primary", "standby", "prefer-standby", "read-write", "read-only"] = (
        "read-write"
    )
    pg_user: str = "postgres"
    pg_password: str = ""
    insurance_db: str = "medins_insurance"
    tax_db: str = "medins_tax"
    db_pool_min: int = 2
    db_pool_max: int = 10
    # A pooled connection idle this long beyond the pool's minimum is closed (the server's connection
    # slots are shared by every process of both agencies).
    db_pool_idle_seconds: float = Field(default=300.0, gt=0)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # The nodes of a RabbitMQ cluster, tried in this order; a process fails over to the next node when
    # its node goes away (services/common/messaging/broker.py). Comma-separated or a JSON list. Empty:
    # the one broker at amqp_url. When set without amqp_url, amqp_url is the first node.
    amqp_urls: Annotated[tuple[str, ...], NoDecode] = ()
    consumer_prefetch: int = 32
    # Events in batches (issue 23, services/common/messaging/event_batches.py): transactions one consumer
    # runs at once (each holds a connection), and events in one transaction.
    consumer_batches_in_flight: int = Field(default=2, ge=1)
    consumer_batch_max: int = Field(default=32, ge=1, le=1000)
    # Delays of the retry tiers, in milliseconds; after the last tier a message goes to the DLQ.
    retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000, 120_000)

    listen_host: str = "127.0.0.1"
    registration_port: int = 50051
    enrollment_port: int = 50052
    collection_port: int = 50053
    shutdown_grace_seconds: float = 10.0

    log_level: str = "INFO"
    # How much this process yields the CPU to others (os.nice, 0-19). On a shared machine the batch
    # writers and workers run nicer than the enrollment check and the payment intake (R16), so a
    # 2,000-row batch registration never takes the cores the check's latency needs.
    niceness: int = Field(default=0, ge=0, le=19)
    clock_file: str | None = None

    # Periodic workers: how often they look for work when idle, and how much they take at once.
    worker_interval_seconds: float = 5.0
    renewal_batch_size: int = 1000
    # Pause between full renewal batches, to spare the database during business hours.
    renewal_batch_pause_ms: int = 0
    age_out_batch_size: int = 500

    order_ttl_seconds: int = 60
    order_expiry_interval_seconds: float = 1.0
    school_order_ttl_seconds: int = 86_400
    # A channel's reported payment time may run ahead of our clock by this much (R21a).
    payment_clock_skew_seconds: int = 5
    # Group commit of notifications (issue 23, services/collection/notification_groups.py): groups in
    # one process's transactions at once (each holds a connection), and notifications in one group.
    intake_groups_in_flight: int = Field(default=2, ge=1)
    intake_group_max: int = Field(default=64, ge=1, le=1000)
    intake_waiting_max: int = Field(default=1024, ge=1)
    # R43: request ids are kept at least as long as channels retry their notifications (WeChat Pay
    # 24 h 4 min, Alipay 25 h): never less than 48 h (notification records are never removed).
    idempotency_retention_hours: int = Field(default=24 * 7, ge=MIN_REQUEST_ID_RETENTION_HOURS)
    outbox_retention_hours: int = 24 * 7
    # R42: each channel's own verification keys, one directory laid out as
    # services/collection/channels/keys.py says (a mounted secret in a deployment, docs/DEPLOY.md).
    # Empty: on a developer's machine the simulators' keys of `make channel-keys`
    # (.make/channel-keys/verify); a production process that verifies channels (the collection service,
    # the callback endpoint) refuses to start without it. A process re-reads it on
    # SIGHUP (rotation without downtime).
    channel_keys_dir: str = ""
    # R44: the channels' HTTPS callbacks (python -m services.collection.callbacks): where it listens,
    # which addresses may call it (CIDRs, comma-separated or a JSON list; empty: any), and the
    # directory of its certificate (server/callbacks.{pem,key}; empty: tls_dir, else `make certs`'
    # .make/certs on a developer's machine).
    callbacks_port: int = 50060
    callbacks_allowed_ips: Annotated[tuple[str, ...], NoDecode] = ()
    callbacks_tls_dir: str = ""
    # Key of the HMAC over page tokens (R34); tokens live this long.
    page_token_key: str = DEMO_PAGE_TOKEN_KEY
    page_token_ttl_seconds: int = 3600

    @field_validator("pg_hosts", mode="before")
    @classmethod
    def split_pg_hosts(cls, value: Any) -> Any:
        """MEDINS_PG_HOSTS as "db1:5432,db2:5432" (a node without a port is on 5432)."""
        if not isinstance(value, str):
            return value
        nodes = []
        for node in (n.strip() for n in value.split(",")):
            if not node:
                continue
            host, _, port = node.rpartition(":") if ":" in node else (node, "", "5432")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"MEDINS_PG_HOSTS: not host:port: {node!r}")
            nodes.append((host, int(port)))
        return tuple(nodes)

    @property
    def pg_endpoints(self) -> tuple[tuple[str, int], ...]:
        """Every PostgreSQL node this process may connect to, in order of preference."""
        return self.pg_hosts or ((self.pg_host, self.pg_port),)

    @field_validator("amqp_urls", mode="before")
    @classmethod
    def split_amqp_urls(cls, value: Any) -> Any:
        """MEDINS_AMQP_URLS as "amqp://a/,amqp://b/" or as a JSON list."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return tuple(url.strip() for url in text.split(",") if url.strip())

    @field_validator("amqp_urls")
    @classmethod
    def check_amqp_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [url for url in urls if not url.startswith(("amqp://", "amqps://"))]
        if wrong:
            raise ValueError(f"MEDINS_AMQP_URLS: not an amqp:// or amqps:// URL: {wrong[0].split('@')[-1]}")
        return urls

    @model_validator(mode="before")
    @classmethod
    def first_node_is_amqp_url(cls, data: Any) -> Any:
        """Tools that talk to one broker (the audit, the worker probe) read amqp_url: with only a node list
        given, it is the first node."""
        if isinstance(data, dict) and data.get("amqp_urls") and not data.get("amqp_url"):
            urls = cls.split_amqp_urls(data["amqp_urls"])
            if urls:
                return {**data, "amqp_url": urls[0]}
        return data

    @property
    def broker_urls(self) -> tuple[str, ...]:
        """Every broker node a long-running process may connect to, in order of preference."""
        return self.amqp_urls or (self.amqp_url,)

    @model_validator(mode="after")
    def check_secrets(self) -> Settings:
        """In production every secret must be set, and not to a demo value."""
        if self.environment != "production":
            return self
        weak = [
            name
            for name, value, demo in (("MEDINS_PAGE_TOKEN_KEY", self.page_token_key, DEMO_PAGE_TOKEN_KEY),)
            if value == demo or len(value) < MIN_SECRET_CHARS
        ]
        if weak:
            raise ValueError(
                f"production mode needs real secrets: set {', '.join(weak)} "
                f"(at least {MIN_SECRET_CHARS} characters, not the demo value)"
            )
        return self

    @field_validator("callbacks_allowed_ips", mode="before")
    @classmethod
    def split_allowed_ips(cls, value: Any) -> Any:
        """MEDINS_CALLBACKS_ALLOWED_IPS as "101.226.0.0/16,140.207.54.0/24" or as a JSON list."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return tuple(json.loads(text))
        return tuple(part.strip() for part in text.split(",") if part.strip())

    @property
    def channel_keys_path(self) -> Path:
        """The directory of the channels' verification keys (R42)."""
        return Path(self.channel_keys_dir) if self.channel_keys_dir else DEV_FILES / "channel-keys" / "verify"

    @property
    def callbacks_tls_path(self) -> Path | None:
        """The certificates of the HTTPS callback endpoint (R44), if any are configured or made."""
        for configured in (self.callbacks_tls_dir, self.tls_dir):
            if configured:
                return Path(configured)
        made = DEV_FILES / "certs"
        return made if self.environment == "development" and (made / "server" / "callbacks.pem").exists() else None

    # R27 deduction agreements. Card numbers are encrypted with AES-GCM under the key named by
    # card_key_id; card_keys holds every key still needed to decrypt ("id:base64-of-32-bytes,..."), so a
    # new key can be made current while rows under the old one are still read. The default is a demo key.
    card_key_id: str = "demo-1"
    card_keys: str = "demo-1:ZGVtby1jYXJkLWtleS0zMi1ieXRlcy1mb3ItbG9jYWw="
    # The local SMS gateway appends what it sends (masked phone, code) to this file; None: kept in memory.
    sms_outbox_file: str | None = None
    # The local notifier appends each message once per message id to this file; None: kept in memory.
    notifier_outbox_file: str | None = None
    # Simulated slowness of the local notifier per message, to stand in for a real gateway.
    notifier_delay_ms: int = 0
    # The simulated bank's ledger (accounts and deductions by attempt id).
    bank_simulator_file: str | None = None
    # How long the deduction worker waits for the bank before it treats the answer as unknown.
    bank_timeout_seconds: float = 5.0
    # Scheduled deduction runs: how often; a run can also be started on demand (workers.deductions --once).
    deduction_interval_seconds: float = 86_400.0
    # After this many failed runs in a row an agreement is suspended and the person pays by an ordinary order.
    deduction_max_failed_runs: int = 3
    # How long a deduction order holds its items while the bank's answer is awaited.
    deduction_order_ttl_seconds: int = 86_400
    # R29: a reminder round starts this many days before a region's collection window closes.
    reminder_days_before: int = 7
    reminder_batch_size: int = 100

    # R35 transport security. Off (plaintext) by default on a developer's machine; when on, servers
    # require a client certificate signed by the CA in tls_dir and every client presents its own.
    # tls_dir holds ca.pem, server/<service>.{pem,key} and <kind>/<name>.{pem,key} (`make certs`).
    tls_required: bool = False
    tls_dir: str | None = None
    # Whose certificate this process presents when it calls a service (the CLI, the load tool).
    tls_identity: str = "operator:local"
    # The caller of every call while TLS is off: nothing is authenticated then, so by default a
    # development identity that may call everything; set e.g. "hospital:h1" to try the rules out.
    local_identity: str = "local:development"
    # Whether callers of the loadtest kind are admitted (they play the load mix, payments included, as
    # one identity). Unset: yes, except in production, where a system that is load-tested (a staging
    # system shaped like production) says so explicitly.
    loadtest_callers: bool | None = None

    @property
    def admits_loadtest_callers(self) -> bool:
        return self.loadtest_callers if self.loadtest_callers is not None else self.environment != "production"

    @model_validator(mode="after")
    def check_tls(self) -> Settings:
        """TLS needs its certificates; both identities must read as kind:name. Production requires
        mutual TLS: without it every caller would be the all-powerful development identity (R35)."""
        if self.environment == "production" and not self.tls_required:
            raise ValueError("production mode needs mutual TLS: set MEDINS_TLS_REQUIRED=true and MEDINS_TLS_DIR")
        if self.tls_required and not self.tls_dir:
            raise ValueError("MEDINS_TLS_REQUIRED needs MEDINS_TLS_DIR (the certificates of `make certs`)")
        for name, value in (("MEDINS_TLS_IDENTITY", self.tls_identity), ("MEDINS_LOCAL_IDENTITY", self.local_identity)):
            try:
                parse_identity(value)
            except InvalidIdentity as error:
                raise ValueError(f"{name}: {error}") from None
        return self

    # Admission control (issue 22, services/common/admission.py; docs/DEPLOY.md "Admission control"): per
    # service process, calls in progress and calls waiting; per caller (kind:name) its share of both,
    # and per kind of caller another share ({"kind": [in_flight, queued]}, JSON). The development
    # identity (every caller of a plaintext system) and load-test callers take the whole service unless
    # a kind share says otherwise.
    admission_enabled: bool = True
    admission_max_in_flight: int = Field(default=64, ge=1)
    admission_max_queued: int = Field(default=1024, ge=0)
    admission_caller_in_flight: int = Field(default=16, ge=1)
    admission_caller_queued: int = Field(default=256, ge=0)
    admission_kind_shares: dict[str, tuple[int, int]] = {}
    # Per kind of caller, a rate each caller of it may keep up: {"kind": [calls_per_second, burst]} (JSON).
    admission_kind_rates: dict[str, tuple[float, int]] = {}
    admission_retry_after_ms: int = Field(default=100, ge=1)
    admission_deadline_floor_ms: float = Field(default=2.0, ge=0)
    # Calls one client connection may have in progress (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS): the
    # client holds its calls beyond it on its own side, where they cost the server nothing; a caller
    # with several connections meets the admission shares above (docs/DEPLOY.md, "Admission control").
    grpc_streams_per_connection: int = Field(default=8, ge=1)

    @field_validator("admission_kind_shares")
    @classmethod
    def check_kind_shares(cls, shares: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        kinds = {kind.value for kind in CallerKind}
        for kind, (in_flight, queued) in shares.items():
            if kind not in kinds:
                raise ValueError(f"MEDINS_ADMISSION_KIND_SHARES: unknown caller kind {kind[:32]!r}")
            if in_flight < 1 or queued < 0:
                raise ValueError(f"MEDINS_ADMISSION_KIND_SHARES: {kind} needs in_flight >= 1 and queued >= 0")
        return shares

    @field_validator("admission_kind_rates")
    @classmethod
    def check_kind_rates(cls, rates: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
        kinds = {kind.value for kind in CallerKind}
        for kind, (per_second, burst) in rates.items():
            if kind not in kinds:
                raise ValueError(f"MEDINS_ADMISSION_KIND_RATES: unknown caller kind {kind[:32]!r}")
            if per_second <= 0 or burst < 1:
                raise ValueError(f"MEDINS_ADMISSION_KIND_RATES: {kind} needs calls_per_second > 0 and burst >= 1")
        return rates

    @property
    def admission_limits(self) -> Limits | None:
        """The bounds every service process of these settings applies (None: admission control off)."""
        if not self.admission_enabled:
            return None
        whole = Share(self.admission_max_in_flight, self.admission_max_queued)
        kind_shares = {CallerKind.LOCAL: whole, CallerKind.LOADTEST: whole}
        kind_shares |= {CallerKind(kind): Share(*share) for kind, share in self.admission_kind_shares.items()}
        return Limits(
            max_in_flight=self.admission_max_in_flight,
            max_queued=self.admission_max_queued,
            share=Share(self.admission_caller_in_flight, self.admission_caller_queued),
            kind_shares=kind_shares,
            kind_rates={CallerKind(kind): Rate(*rate) for kind, rate in self.admission_kind_rates.items()},
            retry_after=self.admission_retry_after_ms / 1000,
            deadline_floor=self.admission_deadline_floor_ms / 1000,
        )

    # Prometheus (services/common/metrics.py): each process serves /metrics on this port of listen_host;
    # 0 serves none (the local default: processes of one machine would collide on one port).
    metrics_port: int = 0
    # How often relays and consumers sample the outbox backlog and their queue depths for the metrics.
    metrics_sample_seconds: float = 5.0

    def dsn(self, database: str) -> str:
        auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
        if not self.pg_hosts:
            return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{database}"
        nodes = ",".join(f"{host}:{port}" for host, port in self.pg_hosts)
        return f"postgresql://{auth}@{nodes}/{database}?target_session_attrs={self.pg_target_session_attrs}"

    @property
    def insurance_dsn(self) -> str:
        return self.dsn(self.insurance_db)

    @property
    def tax_dsn(self) -> str:
        return self.dsn(self.tax_db)

    @property
    def admin_dsn(self) -> str:
        return self.dsn("postgres")


def load_settings() -> Settings:
    """The process's settings; a configuration mistake ends the process with its message, not a traceback."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]) for e in error.errors())
        raise SystemExit(f"invalid settings: {problems}") from None
