"""Session-wide test settings shared by every area."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "packflow",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("packflow")


@pytest.fixture(autouse=True)
def _no_config_override_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BACKEND_CONFIG_FILE_PATH set in the developer's shell must not leak into tests."""
    monkeypatch.delenv("BACKEND_CONFIG_FILE_PATH", raising=False)


@pytest.fixture
def otlp_receiver():  # type: ignore[no-untyped-def]
    """An OTLP/HTTP receiver on a loopback port (tests/_otlp.py), closed after the test."""
    pytest.importorskip("opentelemetry.proto", reason="needs opentelemetry-proto (dev extra)")
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_packflow_test_otlp", Path(__file__).parent / "_otlp.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    receiver = module.OtlpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def exporter():  # type: ignore[no-untyped-def]
    """An in-memory span exporter behind the installed OpenTelemetry observer, uninstalled after the test."""
    pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from packflow._logjson import set_span_source
    from packflow.runtime import tracing
    from packflow.runtime._otel import OtelObserver

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    previous = tracing.install(OtelObserver(provider))
    try:
        yield spans
    finally:
        tracing.install(previous)
        set_span_source(None)
