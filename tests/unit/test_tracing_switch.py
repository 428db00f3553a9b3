"""Issue 24: tracing is off unless OTEL_TRACES_EXPORTER names an exporter; off, the SDK is not loaded and
nothing is carried; a wrong exporter name is a clear message, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import sys; from services.common import tracing; tracing.configure_tracing('probe');"
    " print(tracing.enabled(), 'opentelemetry.sdk' in sys.modules, tracing.current_traceparent(),"
    " tracing.headers_with_context({}))"
)


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_without_an_exporter_nothing_is_loaded_and_nothing_is_carried() -> None:
    assert _run().stdout.split() == ["False", "False", "None", "{}"]
    assert _run(OTEL_TRACES_EXPORTER="none").stdout.split() == ["False", "False", "None", "{}"]
    assert _run(OTEL_TRACES_EXPORTER="console", OTEL_SDK_DISABLED="true").stdout.split()[0] == "False"


def test_an_exporter_switches_tracing_on() -> None:
    assert _run(OTEL_TRACES_EXPORTER="console").stdout.split()[:2] == ["True", "True"]


def test_an_unknown_exporter_is_refused_by_name() -> None:
    done = _run(OTEL_TRACES_EXPORTER="zipkin")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "OTEL_TRACES_EXPORTER: zipkin is not one of ('otlp', 'console')" in done.stderr
