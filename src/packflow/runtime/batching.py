"""Cutting an iterable into micro-batches by size and, for blocking inputs, by time.

The batching clock — what ``Runner(max_batch_size=…, max_wait_ms=…)`` means to every driver:

- A batch is dispatched as soon as it holds ``max_batch_size`` records.
- Otherwise the clock starts when the batch's **first** record is available, and the batch is
  dispatched, however small, once ``max_wait_ms`` has passed on that clock. ``0`` means never wait:
  dispatch whatever is available now. The value must be a finite number of milliseconds >= 0.
- Input that is already all there (a list, a regular file, an Arrow batch) never waits: waiting
  could not add records.

Drivers apply it where their records arrive: :meth:`Runner.map` (this module) and ``packflow
run`` on pipes and terminals (``JsonLinesReader``), ``packflow stream`` after the first entry of
a read (``DriverOptions.max_wait_ms``), and ``packflow serve``, whose batcher dispatches at once
when the backend is idle and, while a batch runs, lets the next one wait at most ``max_wait_ms``
to fill (``AsyncBatcher.fill_wait_ms``, set from the same option). Ray and Spark hand whole
Arrow batches to the Runner, so they never wait. ``docs/guarantees.md`` lists this per driver.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from typing import Any, Iterable, Iterator

__all__ = ["iter_batches"]

_END = object()


def iter_batches(items: Iterable[Any], size: int, max_wait_ms: float | None = None) -> Iterator[list]:
    """Yield lists of at most ``size`` items.

    Lists, tuples and other sized containers are sliced directly. Other iterables are read on a
    background thread when ``max_wait_ms`` is given, so a partial batch is yielded once it has
    waited that long (useful for pipes that deliver records slowly).
    """
    if isinstance(items, (list, tuple)):
        for start in range(0, len(items), size):
            yield list(items[start : start + size])
        return
    if not max_wait_ms:
        iterator = iter(items)
        while batch := list(itertools.islice(iterator, size)):
            yield batch
        return
    yield from _timed_batches(iter(items), size, max_wait_ms / 1000.0)


def _timed_batches(iterator: Iterator[Any], size: int, wait_s: float) -> Iterator[list]:
    inbox: queue.Queue = queue.Queue(maxsize=size * 4)
    failure: list[BaseException] = []
    stop = threading.Event()
    threading.Thread(
        target=_read_into, args=(iterator, inbox, stop, failure), name="packflow-batch-reader", daemon=True
    ).start()
    try:
        yield from _collect(inbox, size, wait_s)
    finally:
        stop.set()  # the consumer stopped early or finished: let the reader thread exit
    if failure:
        raise failure[0]


def _read_into(iterator: Iterator[Any], inbox: queue.Queue, stop: threading.Event, failure: list) -> None:
    """Reader thread: move items into ``inbox`` until the input ends or the consumer goes away."""
    try:
        for item in iterator:
            if not _put(inbox, item, stop):
                return
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
        failure.append(exc)
    _put(inbox, _END, stop)


def _put(inbox: queue.Queue, item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            inbox.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _collect(inbox: queue.Queue, size: int, wait_s: float) -> Iterator[list]:
    """Batches from ``inbox``: full ones at once, a partial one ``wait_s`` after its first item."""
    while True:
        first = inbox.get()
        if first is _END:
            return
        batch = [first]
        deadline = time.monotonic() + wait_s
        while len(batch) < size:
            remaining = deadline - time.monotonic()
            try:
                item = inbox.get(timeout=remaining) if remaining > 0 else inbox.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                yield batch
                return
            batch.append(item)
        yield batch
