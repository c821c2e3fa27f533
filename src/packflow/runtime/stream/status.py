"""What a running stream shows: a sampled live status line, and the end-of-run per-step summary."""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

from packflow.runtime.stream.driver import StreamDriver

__all__ = ["Monitor", "format_totals"]


class Monitor:
    """Samples the driver and its source once per ``interval``; optionally draws a one-line status.

    Broker gauges (lag, pending) are read here, off the hot path, so neither the status line nor a
    metrics scrape costs the driver a round trip.
    """

    def __init__(self, driver: StreamDriver, out: TextIO | None = None, interval: float = 1.0, as_json: bool = False) -> None:
        """``as_json``: each status line is one JSON log object (``--log-format json``), not a line redrawn in place."""
        self.driver = driver
        self.out = out
        self.as_json = as_json
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
        if self.as_json:
            self.out.write(_json_status(text) + "\n")
            self.out.flush()
            return
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.out.write("\r" + text + " " * pad)
        self.out.flush()


def _json_status(text: str) -> str:
    import logging

    from packflow._logjson import JsonFormatter

    record = logging.LogRecord("packflow.stream.status", logging.INFO, __file__, 0, "%s", (text,), None)
    return JsonFormatter().format(record)


def format_totals(driver: StreamDriver) -> str:
    """The stream's own end-of-run line: totals, broker retries, and why the run stopped.

    The per-step latency table comes from the Runner snapshot (``packflow.cli._summary``).
    """
    stats = driver.stats
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    return (
        f"packflow stream: {stats.records:,} records in {elapsed:.1f}s ({stats.records / elapsed:,.0f}/s): "
        f"{stats.outputs:,} outputs, {stats.dead_letters:,} dead letters, {stats.batches:,} batches"
        + (f", {stats.retries} broker retries" if stats.retries else "")
        + (f"; stopped: {stats.stopped_by}" if stats.stopped_by else "")
    )
