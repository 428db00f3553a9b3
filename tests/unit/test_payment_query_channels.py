"""R43: a production payment query worker with no channel API configured says so as an error at its
first pass (until then a payment whose notification is lost is found by nobody); in development,
where no channel is the usual case, it is information."""

from __future__ import annotations

import datetime as dt

import pytest
from structlog.testing import capture_logs

import workers.payment_query.__main__ as worker
from services.common.clock import FixedClock
from services.common.settings import Settings


@pytest.mark.parametrize(("environment", "level"), [("production", "error"), ("development", "info")])
def test_no_channel_configured_is_an_error_in_production(
    monkeypatch: pytest.MonkeyPatch, environment: str, level: str
) -> None:
    monkeypatch.delenv("MEDINS_CHANNEL_API_MERCHANT_KEYS_DIR", raising=False)
    process = Settings.model_construct(environment=environment)  # a production one's secrets are beside the point
    monkeypatch.setattr(worker, "load_settings", lambda: process)
    job = worker.Job(worker.PaymentQuerySettings(), dt.timedelta(seconds=5))
    with capture_logs() as logs:
        assert job._apis(FixedClock(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))) == []
    said = [(entry["log_level"], entry["event"]) for entry in logs]
    expected = "payment_query_no_channels" if level == "error" else "payment_query_channels"
    assert said == [(level, expected)]
