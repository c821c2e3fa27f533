"""Prometheus metrics of a running stream (needs ``pip install 'packflow[redis]'``: prometheus-client)."""

from __future__ import annotations

from typing import Any, Iterator

from packflow.runtime.quality_metrics import data_quality_families
from packflow.runtime.stream.status import Monitor

try:
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError("--metrics-port needs prometheus-client: pip install 'packflow[redis]'") from exc

__all__ = ["StreamCollector", "serve_metrics"]


class StreamCollector:
    """Reads the driver's totals, the Runner's snapshot and the monitor's broker gauges at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        driver = self.monitor.driver
        stats = driver.stats
        for name, doc, value in (
            ("packflow_stream_records", "Records read from the input stream.", stats.records),
            ("packflow_stream_outputs", "Output records written.", stats.outputs),
            ("packflow_stream_batches", "Batches processed and acknowledged.", stats.batches),
            ("packflow_stream_broker_retries", "Broker calls retried after a connection error.", stats.retries),
        ):
            yield CounterMetricFamily(name, doc, value=value)
        snap = driver.runner.snapshot()
        dead = CounterMetricFamily("packflow_stream_dead_letters", "Records dead-lettered, by step.", labels=["step"])
        for step, count in sorted(snap.dead_letters_by_step.items()):
            dead.add_metric([step], count)
        yield dead
        for key, doc in (("lag", "Entries not yet delivered to the group."), ("pending", "Entries delivered, not acknowledged.")):
            gauge = self.monitor.gauges.get(key)
            if gauge is not None:
                yield GaugeMetricFamily(f"packflow_stream_{key}", doc, value=gauge)
        yield from _step_latency(snap.steps)
        yield from data_quality_families(snap.data_quality)


def _step_latency(steps: dict[str, dict[str, float]]) -> Iterator[Any]:
    latency = GaugeMetricFamily(
        "packflow_step_latency_ms", "Rolling per-step latency of backend calls (ms).", labels=["step", "stat"]
    )
    calls = CounterMetricFamily("packflow_step_calls", "Backend calls per step.", labels=["step"])
    for step, s in steps.items():
        calls.add_metric([step], s["count"])
        for stat in ("mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"):
            latency.add_metric([step, stat.removesuffix("_ms")], s[stat])
    yield calls
    yield latency


def serve_metrics(monitor: Monitor, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the server (call ``shutdown()``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamCollector(monitor))  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
