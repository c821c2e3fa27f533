"""Progress bar and end-of-run summary for the record-processing commands (``run``, ``stream``)."""

from __future__ import annotations

import time
from typing import IO, Any

from packflow._text import plural
from packflow.runtime.stats import RunnerSnapshot

__all__ = ["ProgressBar", "build_summary", "format_summary"]

_STEP_ORDER = ("preprocess", "transform_inputs", "execute", "transform_outputs", "total")


class ProgressBar:
    """Records done, records/s and — when the input size is known — a bar and ETA, on ``stream``.

    On a terminal the line is redrawn in place (at most ``interval`` s apart); elsewhere a plain
    line is printed every ``interval * 25`` s so logs stay readable.
    """

    def __init__(self, stream: IO[str], total_bytes: int | None = None, interval: float = 0.2) -> None:
        self.stream = stream
        self.total_bytes = total_bytes or None
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else interval * 25
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, records: int, bytes_read: int, force: bool = False) -> None:
        """Redraw if ``interval`` has passed since the last draw (or ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        line = self._line(records, bytes_read, now - self.started)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self, records: int, bytes_read: int) -> None:
        """Draw the final state and end the line."""
        self.update(records, bytes_read, force=True)
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, records: int, bytes_read: int, elapsed: float) -> str:
        rate = records / elapsed if elapsed > 0 else 0.0
        text = f"{records:>12,} records  {rate:>10,.0f} rec/s"
        if self.total_bytes:
            fraction = min(1.0, bytes_read / self.total_bytes)
            filled = int(fraction * 24)
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0.0
            text = f"[{'#' * filled}{'.' * (24 - filled)}] {fraction:4.0%} " + text + f"  ETA {_clock(eta)}"
        return text


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def build_summary(snapshot: RunnerSnapshot, elapsed_s: float, exit_code: int, **extra: Any) -> dict[str, Any]:
    """The JSON-ready end-of-run summary: totals, per-step latency statistics, runner counters."""
    data = snapshot.to_dict()
    summary: dict[str, Any] = {
        "records_in": data["records_in"],
        "records_out": data["records_out"],
        "dead_letters": data["dead_letters"],
        "dead_letters_by_step": data["dead_letters_by_step"],
        "elapsed_s": round(elapsed_s, 6),
        "records_per_s": round(data["records_in"] / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        "exit_code": exit_code,
        "steps": data["steps"],
        "runner": {k: v for k, v in data.items() if k not in ("steps", "data_quality", "step_latency")},
        "data_quality": data.get("data_quality"),
    }
    summary.update(extra)
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A per-step latency table (count, mean, p50, p95, p99 in ms) followed by the totals."""
    header = f"{'step':<18}{'count':>10}{'mean ms':>12}{'p50 ms':>12}{'p95 ms':>12}{'p99 ms':>12}"
    lines = [header, "-" * len(header)]
    steps = summary.get("steps") or {}
    for name in sorted(steps, key=lambda s: (_STEP_ORDER.index(s) if s in _STEP_ORDER else 99, s)):
        st = steps[name]
        lines.append(
            f"{name:<18}{st.get('count', 0):>10,}{st.get('mean_ms', 0):>12.3f}{st.get('p50_ms', 0):>12.3f}"
            f"{st.get('p95_ms', 0):>12.3f}{st.get('p99_ms', 0):>12.3f}"
        )
    if not steps:
        lines.append("(no backend calls)")
    lines += _quality_lines(summary.get("data_quality"))
    lines.append(_totals_line(summary))
    return "\n".join(lines)


def _quality_lines(quality: dict[str, Any] | None) -> list[str]:
    """Per configured field: present, missing, null, type-mismatched counts (nothing without fields)."""
    if not quality:
        return []
    header = f"{'field':<28}{'present':>10}{'missing':>10}{'null':>10}{'mismatch':>10}"
    lines = ["", header, "-" * len(header)]
    for name, c in quality["fields"].items():
        lines.append(f"{name:<28}{c['present']:>10,}{c['missing']:>10,}{c['null']:>10,}{c['type_mismatch']:>10,}")
    lines.append(f"fields: {quality['renamed']:,} renamed, {quality['dropped']:,} dropped, "
                 f"{quality['unexpected']:,} unexpected in {quality['records']:,} records")
    return lines


def _totals_line(summary: dict[str, Any]) -> str:
    by_step = summary.get("dead_letters_by_step") or {}
    reasons = ", ".join(f"{step} {count:,}" for step, count in sorted(by_step.items()))
    dead = f"{summary.get('dead_letters', 0):,} dead-lettered" + (f" ({reasons})" if reasons else "")
    runner = summary.get("runner") or {}
    count = runner.get("batches")
    batches = f" in {plural(count, 'batch', 'batches')}" if count is not None else ""
    rate = summary.get("records_per_s", 0)
    return (
        f"{'record' if summary.get('records_in', 0) == 1 else 'records'}: {summary.get('records_in', 0):,} in, {summary.get('records_out', 0):,} out, {dead}{batches}; "
        f"{summary.get('elapsed_s', 0):.2f} s, {rate:,.0f} {'record' if round(rate) == 1 else 'records'}/s"
    )
