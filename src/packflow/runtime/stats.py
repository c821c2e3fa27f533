"""Runner counters and the snapshot every driver reports from."""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

from packflow.runtime.metrics_vocab import BATCH_SIZE_BUCKETS, LATENCY_BUCKETS

__all__ = ["RunObserver", "RunnerCounters", "RunnerSnapshot", "timed_calls"]


class RunObserver(Protocol):
    """What a driver's own metrics (serve's Prometheus registry) hear from the Runner, as it happens."""

    def batch_done(self, size: int, dead_steps: Sequence[str], calls: int) -> None:
        """One batch of ``size`` records ran in ``calls`` backend calls; the dead letters' steps."""

    def call_done(self, names: Sequence[str], seconds: Sequence[float]) -> None:
        """One successful backend call took ``seconds[i]`` in step ``names[i]``."""

    def dead_letters(self, step: str, count: int) -> None:
        """``count`` records a driver dead-lettered itself in ``step`` (decode, encode, deliver)."""


@dataclass
class RunnerSnapshot:
    """Counts and per-step latency statistics at one moment; ``to_dict()`` is JSON-ready."""

    records_in: int
    records_out: int
    dead_letters: int
    batches: int
    backend_calls: int
    isolation_calls: int
    batch_sizes: dict[str, int]
    steps: dict[str, dict[str, float]]
    uptime_s: float
    records_per_s: float
    queue_depth: int = 0
    in_flight: int = 0
    dead_letters_by_step: dict[str, int] = field(default_factory=dict)
    #: Batch-size histogram sum: records that reached the backend (``batch_sizes`` holds the buckets).
    batch_records: int = 0
    #: Per-step latency histograms: ``{step: {"buckets": [per-bucket counts, last is +Inf], "count", "sum"}}``
    #: (seconds; bounds ``metrics_vocab.LATENCY_BUCKETS``), one observation per successful backend call.
    step_latency: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The backend's field-level data-quality counts (``DataQuality.model_dump()``), None without configured fields.
    data_quality: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    def _repr_html_(self) -> str:
        from packflow.backend.display import STAT_COLUMNS, html_table, statistics_rows

        dead = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_letters_by_step.items())) or "none"
        caption = (f"{self.records_in:,} in, {self.records_out:,} out, {self.dead_letters:,} dead-lettered "
                   f"({dead}) in {self.batches:,} batches")
        return html_table(("step", *STAT_COLUMNS), statistics_rows(self.steps), caption)


class RunnerCounters:
    """Thread-safe counters and histograms; O(1) per batch and per backend call.

    ``observer`` (optional) hears every update too, outside the lock (serve's Prometheus metrics).
    """

    def __init__(self, observer: RunObserver | None = None) -> None:
        self._lock = threading.Lock()
        self.observer = observer
        self.batch_records = 0
        #: step -> [per-bucket counts..., sum of seconds] (bounds: ``LATENCY_BUCKETS``, then +Inf)
        self.step_hist: dict[str, list] = {}
        self.started = time.monotonic()
        self.records_in = 0
        self.records_out = 0
        self.dead_letters = 0
        self.batches = 0
        self.backend_calls = 0
        self.isolation_calls = 0
        self.dead_by_step: dict[str, int] = {}
        self.batch_hist = [0] * (len(BATCH_SIZE_BUCKETS) + 1)

    def batch_done(self, size: int, outputs: int, dead_steps: Iterable[str], calls: int) -> None:
        """Account one batch of ``size`` records that made ``calls`` backend calls."""
        bucket = bisect.bisect_left(BATCH_SIZE_BUCKETS, size)
        with self._lock:
            self.records_in += size
            self.records_out += outputs
            self.batches += 1
            self.backend_calls += calls
            self.isolation_calls += calls - 1
            self.batch_hist[bucket] += 1
            self.batch_records += size
            for step in dead_steps:
                self.dead_letters += 1
                self.dead_by_step[step] = self.dead_by_step.get(step, 0) + 1
        if self.observer is not None:
            self.observer.batch_done(size, dead_steps, calls)  # type: ignore[arg-type]

    def call_done(self, names: Sequence[str], seconds: Sequence[float]) -> None:
        """Account one successful backend call: ``seconds[i]`` spent in step ``names[i]``."""
        slots = self.step_slots(names)
        with self._lock:
            for counts, value in zip(slots, seconds):
                counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
                counts[-1] += value
        if self.observer is not None:
            self.observer.call_done(names, seconds)

    def step_slots(self, names: Sequence[str]) -> list[list]:
        """Each step's histogram: per-bucket counts (the last bucket is +Inf), then the sum of seconds."""
        hist = self.step_hist
        missing = [name for name in names if name not in hist]
        if missing:
            with self._lock:
                for name in missing:
                    hist.setdefault(name, [0] * (len(LATENCY_BUCKETS) + 1) + [0.0])
        return [hist[name] for name in names]

    def call_marks(self, names: Sequence[str], slots: list[list], marks: Sequence[float]) -> None:
        """:meth:`call_done` from a call's clock marks (one before the first step, one after each step)."""
        bounds, find = LATENCY_BUCKETS, bisect.bisect_left
        with self._lock:
            prev = marks[0]
            for counts, mark in zip(slots, marks[1:]):
                value = mark - prev
                prev = mark
                counts[find(bounds, value)] += 1
                counts[-1] += value
        if self.observer is not None:
            self.observer.call_done(names, [b - a for a, b in zip(marks, marks[1:])])

    def extra_dead(self, step: str, count: int = 1) -> None:
        """Account records a driver dead-lettered itself.

        ``encode`` failures happen after the backend produced an output, so those records move from
        out to dead; records failing any other driver step (``decode``) never reached the backend and
        count as in and dead.
        """
        with self._lock:
            if step == "encode":
                self.records_out -= count
            else:
                self.records_in += count
            self.dead_letters += count
            self.dead_by_step[step] = self.dead_by_step.get(step, 0) + count
        if self.observer is not None:
            self.observer.dead_letters(step, count)

    def snapshot(self, steps: dict[str, dict[str, float]], queue_depth: int = 0, in_flight: int = 0) -> RunnerSnapshot:
        with self._lock:
            uptime = time.monotonic() - self.started
            labels = [str(b) for b in BATCH_SIZE_BUCKETS] + ["+Inf"]
            return RunnerSnapshot(
                records_in=self.records_in,
                records_out=self.records_out,
                dead_letters=self.dead_letters,
                batches=self.batches,
                backend_calls=self.backend_calls,
                isolation_calls=self.isolation_calls,
                batch_sizes=dict(zip(labels, self.batch_hist)),
                steps=steps,
                uptime_s=uptime,
                records_per_s=(self.records_in / uptime) if uptime > 0 else 0.0,
                queue_depth=queue_depth,
                in_flight=in_flight,
                dead_letters_by_step=dict(self.dead_by_step),
                batch_records=self.batch_records,
                step_latency={
                    name: {"buckets": counts[:-1], "count": sum(counts[:-1]), "sum": counts[-1]}
                    for name, counts in self.step_hist.items()
                },
            )


def timed_calls(backend: Any, counters: RunnerCounters) -> Callable[[list], Any]:
    """The callable the Runner invokes: the backend's pipeline, reporting each successful call's step times.

    An ``InferenceBackend`` leaves its clock marks in a thread-local after each successful call;
    serve's backend process (``--workers N``) leaves the step times it was sent. One zip and one
    lock per call; anything else is called as it is, untimed.
    """
    pipeline = getattr(backend, "_pipeline", None)
    local, names = getattr(backend, "_local", None), getattr(backend, "_step_names", None)
    if pipeline is not None and local is not None and names:
        slots, record = counters.step_slots(names), counters.call_marks

        def call(records: list) -> Any:
            out = pipeline(records)
            record(names, slots, local.last[1])
            return out

        return call
    if hasattr(backend, "step_seconds"):  # serve's BackendProcess

        def remote(records: list) -> Any:
            out = backend(records)
            steps = backend.step_seconds()
            counters.call_done(tuple(steps), tuple(steps.values()))
            return out

        return remote
    return backend  # type: ignore[no-any-return]
