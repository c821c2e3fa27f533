"""What a running stream shows: a sampled live status line, and the end-of-run per-step summary."""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

from packflow.runtime.stream.driver import StreamDriver

__all__ = ["Monitor", "format_summary"]


class Monitor:
    """Samples the driver and its source once per ``interval``; optionally draws a one-line status.

    Broker gauges (lag, pending) are read here, off the hot path, so neither the status line nor a
    metrics scrape costs the driver a round trip.
    """

    def __init__(self, driver: StreamDriver, out: TextIO | None = None, interval: float = 1.0) -> None:
        self.driver = driver
        self.out = out
        self.interval = interval
        self.gauges: dict[str, Any] = {}
        self.rate = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0

    def start(self) -> Monitor:
        self._thread = threading.Thread(target=self._loop, name="packflow-stream-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.out is not None and self._width:
            self.out.write("\n")
            self.out.flush()

    def _loop(self) -> None:
        last_n, last_t = self.driver.stats.records, time.monotonic()
        while not self._stop.wait(self.interval):
            now, n = time.monotonic(), self.driver.stats.records
            self.rate = (n - last_n) / (now - last_t) if now > last_t else 0.0
            last_n, last_t = n, now
            self.sample()
            if self.out is not None:
                self._draw()

    def sample(self) -> None:
        """Refresh the broker gauges (errors are ignored: the driver reports broker trouble itself)."""
        try:
            self.gauges = dict(self.driver.source.stats())
        except Exception:  # noqa: BLE001 - a status read must never disturb the run
            pass

    def line(self) -> str:
        stats = self.driver.stats
        lag = self.gauges.get("lag")
        return (
            f"packflow stream  {stats.records:,} records  {self.rate:,.0f}/s  "
            f"lag {'?' if lag is None else f'{lag:,}'}  pending {self.gauges.get('pending', '?')}  "
            f"dead letters {stats.dead_letters:,}" + ("  retrying" if stats.retries and self.rate == 0 else "")
        )

    def _draw(self) -> None:
        assert self.out is not None
        text = self.line()
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.out.write("\r" + text + " " * pad)
        self.out.flush()


def format_summary(driver: StreamDriver) -> str:
    """The end-of-run report: totals, why the run stopped, dead letters by step, per-step latency."""
    stats, snap = driver.stats, driver.runner.snapshot()
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    lines = [
        f"packflow stream: {stats.records:,} records in {elapsed:.1f}s ({stats.records / elapsed:,.0f}/s): "
        f"{stats.outputs:,} outputs, {stats.dead_letters:,} dead letters, {stats.batches:,} batches"
        + (f", {stats.retries} broker retries" if stats.retries else "")
        + (f"; stopped: {stats.stopped_by}" if stats.stopped_by else ""),
    ]
    if snap.dead_letters_by_step:
        lines.append("dead letters by step: " + ", ".join(f"{k} {v}" for k, v in sorted(snap.dead_letters_by_step.items())))
    if snap.steps:
        lines.append(f"{'step':<18}{'calls':>9}{'errors':>8}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
        for name, s in snap.steps.items():
            lines.append(
                f"{name:<18}{s['count']:>9}{s['errors']:>8}{s['mean_ms']:>10.3f}{s['p50_ms']:>10.3f}"
                f"{s['p95_ms']:>10.3f}{s['p99_ms']:>10.3f}{s['max_ms']:>10.3f}"
            )
    return "\n".join(lines)
