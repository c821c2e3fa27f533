"""Prometheus metrics of a running stream (needs ``pip install 'packflow[redis]'``: prometheus-client).

The common families (records, dead letters, backend calls, batch-size and step-latency histograms,
data quality) come from the Runner's snapshot through :mod:`packflow.runtime.metrics_export`, with
the same names, types and labels as ``packflow serve``'s ``/metrics``; the stream's own families
(``packflow_stream_lag``, ``_pending``, ``_broker_retries_total``) carry the same backend labels.
Everything is read at scrape time: the driver's per-batch path pays nothing for it.
"""

from __future__ import annotations

from typing import Any, Iterator

from packflow.runtime import metrics_vocab as vocab
from packflow.runtime.metrics_export import Family, snapshot_families, to_prometheus
from packflow.runtime.stream.status import Monitor

try:
    from prometheus_client import CollectorRegistry, start_http_server
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError("--metrics-port needs prometheus-client: pip install 'packflow[redis]'") from exc

__all__ = ["StreamCollector", "serve_metrics", "stream_families"]


def stream_families(monitor: Monitor, backend: str, version: str) -> list[Family]:
    """Every family a stream exports: the common ones, then the broker's."""
    driver = monitor.driver
    common = {"backend": backend, "version": version}
    families = snapshot_families(driver.runner.snapshot(), backend, version)
    retries = Family(vocab.STREAM_BROKER_RETRIES)
    retries.add(common, driver.stats.retries)
    families.append(retries)
    for metric, key in ((vocab.STREAM_LAG, "lag"), (vocab.STREAM_PENDING, "pending")):
        gauge = monitor.gauges.get(key)
        if gauge is not None:
            family = Family(metric)
            family.add(common, gauge)
            families.append(family)
    return families


class StreamCollector:
    """Reads the Runner's snapshot, the driver's totals and the monitor's broker gauges at scrape time."""

    def __init__(self, monitor: Monitor, backend: str = "", version: str = "") -> None:
        self.monitor = monitor
        self.labels = (backend, version)

    def collect(self) -> Iterator[Any]:
        yield from to_prometheus(stream_families(self.monitor, *self.labels))


def serve_metrics(monitor: Monitor, port: int, host: str = "127.0.0.1", backend: str = "", version: str = "") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; returns the server (call ``shutdown()``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamCollector(monitor, backend, version))  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
