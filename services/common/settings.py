"""One Settings object per process, from MEDINS_* environment variables with local defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINS_", frozen=True)

    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    insurance_db: str = "medins_insurance"
    tax_db: str = "medins_tax"
    db_pool_min: int = 2
    db_pool_max: int = 10

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    consumer_prefetch: int = 32
    # Delays of the retry tiers, in milliseconds; after the last tier a message goes to the DLQ.
    retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000, 120_000)

    listen_host: str = "127.0.0.1"
    registration_port: int = 50051
    enrollment_port: int = 50052
    collection_port: int = 50053
    shutdown_grace_seconds: float = 10.0

    log_level: str = "INFO"
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
    idempotency_retention_hours: int = 24 * 7
    outbox_retention_hours: int = 24 * 7
    # Shared secrets of the channel signature hook; a real deployment loads each channel's key.
    channel_secret: str = "demo-channel-secret"

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

    def dsn(self, database: str) -> str:
        auth = self.pg_user + (f":{self.pg_password}" if self.pg_password else "")
        return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{database}"

    @property
    def insurance_dsn(self) -> str:
        return self.dsn(self.insurance_db)

    @property
    def tax_dsn(self) -> str:
        return self.dsn(self.tax_db)

    @property
    def admin_dsn(self) -> str:
        return self.dsn("postgres")
