"""JSON lines (or one JSON array) in, JSON lines out: the record I/O behind ``packflow run``.

- :class:`JsonLinesReader` cuts a binary stream into :class:`InputBatch` es. JSON lines are
  streamed in 1 MiB chunks, so memory stays bounded whatever the input size; an input whose first
  non-blank byte is ``[`` is read whole and, if it parses as one JSON array, its elements are the
  records (otherwise it is read as JSON lines). Blank lines are skipped. A line that is not valid
  JSON, or not a JSON object, becomes a ``decode`` dead letter whose ``source`` is its 1-based line
  number (element number for arrays) and whose ``record`` is the line's text.
- On pipes and terminals the reader reads what has arrived (never waiting for a full chunk) and
  hands on a partial batch once it has waited ``max_wait_ms`` for more input — at once when
  ``max_wait_ms`` is 0 — so slow producers see their results promptly (POSIX ``select``).
- A :class:`~packflow.runtime.interrupt.StopRequest` (set by a signal handler) ends the run after
  the batch in hand; :func:`run_jsonl` returns the last input position whose results are written.
- :class:`JsonLinesWriter` encodes a whole batch at once (orjson when installed, else the standard
  library); an output that cannot be encoded becomes an ``encode`` dead letter.
- :func:`run_jsonl` drives a :class:`~packflow.runtime.Runner` from a reader to a writer.
"""

from __future__ import annotations

import copy
import itertools
import os
import select
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator

from packflow.runtime.deadletter import DeadLetter

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.interrupt import StopRequest

from packflow.runtime.codec import DecodeError, dead_letter, decode_record, json_kind
from packflow.runtime.codec import decode as loads
from packflow.runtime.codec import decode_many as _decode_many
from packflow.runtime.codec import encode as dumps

__all__ = ["InputBatch", "JsonLinesReader", "JsonLinesWriter", "dumps", "loads", "run_jsonl"]

CHUNK_SIZE = 1 << 20
#: What a JSON decoder raises for bad input (the stdlib raises RecursionError for very deep nesting).
_DECODE_ERRORS = (ValueError, RecursionError)  # DecodeError is a ValueError
_FLUSH = object()


@dataclass
class InputBatch:
    """Records decoded from one stretch of input, with where each came from."""

    records: list[dict]
    #: Source position of each record; ``None`` means ``first + i`` (no gaps in this batch).
    sources: list[int] | None
    first: int
    #: The raw line of each record (``None`` for JSON-array input), to recover the original record.
    raw: list[bytes] | None
    #: Decode failures in this stretch of input.
    dead: list[DeadLetter] = field(default_factory=list)
    #: The last line (element) number this stretch covers, blank and undecodable lines included.
    last: int = 0
    #: JSON-array input: the whole array, to recover original elements (``raw`` is None then).
    elements: _Elements | None = None

    def source(self, index: int) -> int:
        """Line (or element) number of record ``index``."""
        return self.sources[index] if self.sources is not None else self.first + index

    def fresh(self, lo: int, hi: int) -> list:
        """New copies of records ``lo:hi`` decoded again from the input, as received (the Runner's
        ``fresh``: a backend that modified the decoded dicts changes neither retries nor dead letters)."""
        if self.raw is not None:
            return _decode_many(self.raw[lo:hi])
        if self.elements is not None:
            return self.elements.fresh([self.source(i) for i in range(lo, hi)])
        return copy.deepcopy(self.records[lo:hi])  # pragma: no cover - every reader batch has one of the two

    def original(self, index: int) -> Any:
        """Record ``index`` exactly as read, even if the backend modified the decoded dict."""
        return self.fresh(index, index + 1)[0]


class _Elements:
    """The elements of a JSON-array input, kept as the input's bytes until a failure needs one.

    Zero cost on the clean path; the first failure splits the array into one encoded element each
    (about the input's size in memory, for the rest of the run).
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._items: list[bytes] | None = None

    def fresh(self, numbers: list[int]) -> list:
        """New decoded copies of the elements numbered ``numbers`` (1-based)."""
        if self._items is None:
            self._items = [dumps(v) for v in loads(self._data)]
            self._data = b""
        return _decode_many([self._items[n - 1] for n in numbers])


class JsonLinesReader:
    """Iterate :class:`InputBatch` es of at most ``batch_size`` records from a binary stream."""

    def __init__(
        self, stream: BinaryIO, batch_size: int, max_wait_ms: float | None = None, stop: StopRequest | None = None
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.stream = stream
        self.batch_size = batch_size
        self.wait_s = (max_wait_ms or 0) / 1000.0
        self.stop = stop
        #: Bytes read from the stream so far (read-ahead included).
        self.bytes_read = 0
        #: Bytes of input handed out in batches so far: what progress reports (a 1 MiB read-ahead
        #: would otherwise show 100% before the first batch ran).
        self.bytes_done = 0
        self._pending_since: float | None = None

    @property
    def waits(self) -> bool:
        """True when the input is a pipe, socket or terminal that may block (so batches are time-bounded)."""
        return _pollable_fd(self.stream) is not None

    def __iter__(self) -> Iterator[InputBatch]:
        chunks = self._chunks()
        head = b""
        for chunk in chunks:
            if chunk is _FLUSH:
                continue
            head += chunk
            if head.strip():
                break
        if head.lstrip()[:1] == b"[":
            data = head + b"".join(c for c in chunks if c is not _FLUSH)
            items = _parse_array(data)
            if items is not None:
                yield from self._array_batches(items, _Elements(data))
                return
            head, chunks = data, iter(())
        yield from self._line_batches(head, chunks)

    # -- reading -------------------------------------------------------------------------------

    def _chunks(self) -> Iterator[Any]:
        fd = _pollable_fd(self.stream)
        if fd is None:
            read = self.stream.read
            while data := read(CHUNK_SIZE):
                self.bytes_read += len(data)
                yield data
            return
        yield from self._polled_chunks(fd)

    def _polled_chunks(self, fd: int) -> Iterator[Any]:
        """Chunks from a pipe or terminal, with ``_FLUSH`` whenever a partial batch waited long enough.

        Ends early (as at end of input) once a stop is requested.
        """
        watch = [fd] if self.stop is None else [fd, self.stop.fileno()]
        while True:
            timeout = None
            if self._pending_since is not None:
                timeout = self._pending_since + self.wait_s - time.monotonic()
                if timeout <= 0:
                    yield _FLUSH
                    continue
            if timeout is not None or self.stop is not None:
                ready = select.select(watch, [], [], timeout)[0]
                if self.stop is not None and self.stop.is_set():
                    return
                if not ready:
                    yield _FLUSH
                    continue
            data = os.read(fd, CHUNK_SIZE)
            if not data:
                return
            self.bytes_read += len(data)
            yield data

    def _line_batches(self, head: bytes, chunks: Iterator[Any]) -> Iterator[InputBatch]:
        size, pending, number = self.batch_size, [], 1
        tail: list[bytes] = []  # pieces of a line not yet ended (a list: long lines are not re-copied)
        for chunk in itertools.chain((head,), chunks):
            if chunk is not _FLUSH:
                if b"\n" not in chunk:
                    tail.append(chunk)
                    continue
                lines = (b"".join(tail) + chunk if tail else chunk).split(b"\n")
                tail = [lines.pop()]
                pending.extend(lines)
                if len(pending) < size:
                    self._pending_since = self._pending_since or (time.monotonic() if pending else None)
                    continue
            start = 0
            while len(pending) - start >= size or (chunk is _FLUSH and start < len(pending)):
                batch = pending[start : start + size]
                self.bytes_done += sum(map(len, batch)) + len(batch)
                yield _decode_lines(batch, number)
                start, number = start + len(batch), number + len(batch)
            pending = pending[start:]
            self._pending_since = time.monotonic() if pending else None
        last = b"".join(tail)
        if last:
            pending.append(last)
        for start in range(0, len(pending), size):
            batch = pending[start : start + size]
            self.bytes_done = min(self.bytes_read, self.bytes_done + sum(map(len, batch)) + len(batch))
            yield _decode_lines(batch, number + start)

    def _array_batches(self, items: list, elements: _Elements) -> Iterator[InputBatch]:
        size = self.batch_size
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            self.bytes_done = self.bytes_read * min(len(items), start + size) // max(1, len(items))
            batch = InputBatch(chunk, None, start + 1, None) if _all_dicts(chunk) else _split_elements(chunk, start + 1)
            batch.elements, batch.last = elements, start + len(chunk)
            yield batch


def _all_dicts(items: list) -> bool:
    """True when every item is exactly a dict (C-speed: one ``map`` and one ``count``)."""
    return list(map(type, items)).count(dict) == len(items)


def _pollable_fd(stream: BinaryIO) -> int | None:
    """The file descriptor of a pipe, socket or terminal (which may block); None for files and others."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or os.name == "nt":
        return None
    return fd


def _parse_array(data: bytes) -> list | None:
    try:
        value = loads(data)
    except _DECODE_ERRORS:
        return None
    return value if isinstance(value, list) else None


def _decode_lines(lines: list[bytes], first: int) -> InputBatch:
    """Decode a stretch of lines; the common all-valid case runs entirely in C."""
    try:
        records = _decode_many(lines)
    except _DECODE_ERRORS:
        return _decode_lines_slowly(lines, first)
    if _all_dicts(records):
        return InputBatch(records, None, first, lines, last=first + len(lines) - 1)
    return _decode_lines_slowly(lines, first)


def _decode_lines_slowly(lines: list[bytes], first: int) -> InputBatch:
    batch = InputBatch([], [], first, [], last=first + len(lines) - 1)
    for offset, line in enumerate(lines):
        number = first + offset
        if not line.strip():
            continue  # a blank line holds no record
        try:
            value = decode_record(line)
        except DecodeError as exc:
            message = f"line {number}: {exc}"
            batch.dead.append(dead_letter(_text(line), "decode", exc, message=message, source=number))
            continue
        batch.records.append(value)
        batch.sources.append(number)  # type: ignore[union-attr]
        batch.raw.append(line)  # type: ignore[union-attr]
    return batch


def _split_elements(items: list, first: int) -> InputBatch:
    batch = InputBatch([], [], first, None)
    for offset, value in enumerate(items):
        number = first + offset
        if isinstance(value, dict):
            batch.records.append(value)
            batch.sources.append(number)  # type: ignore[union-attr]
        else:
            message = f"array element {number} is a JSON {json_kind(value)}, not an object; the array must hold objects"
            batch.dead.append(dead_letter(value, "decode", "DecodeError", message=message, source=number))
    return batch


def _text(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")


from packflow.runtime.jsonl_run import JsonLinesWriter, run_jsonl  # noqa: E402 - needs the names above
