"""Field-level data-quality counters kept by the built-in preprocessors (see docs/metrics.md).

Per configured field (``feature_names``, ``rename_fields`` sources, ``required_fields``) a
preprocessor counts values that were present, missing (absent), null (``None``) or of the wrong
type for the field's dtype; per batch it also counts renamed values, unexpected top-level fields
(keys no configured field refers to) and dropped values (input values left out of the output).

Cost: a batch on the clean path (every configured field present, non-null, of the right type) is
one O(1) update; per-value counting runs only for batches that have a problem. Counts are
*staged* by the preprocessor and committed by the backend once per call that succeeded — or that
failed on a single record — so a batch retried by the Runner's isolation is counted once.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.metrics import DataQuality

__all__ = ["QualityCounters", "count_values"]


class Staged:
    """One batch's counts: ``clean`` rows, per-field [present, missing, null, mismatch], extras."""

    __slots__ = ("records", "per_field", "renamed", "dropped", "unexpected")

    def __init__(self, records: int, per_field: list[list[int]] | None, renamed: int, dropped: int, unexpected: int) -> None:
        self.records, self.per_field = records, per_field
        self.renamed, self.dropped, self.unexpected = renamed, dropped, unexpected


class QualityCounters:
    """Thread-safe lifetime counters for ``fields``; preprocessors stage, the backend commits."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._records = self._clean = self._renamed = self._dropped = self._unexpected = 0
        self._counts = [[0, 0, 0, 0] for _ in self.fields]

    def stage_clean(self, records: int, renamed: int, dropped: int, unexpected: int) -> None:
        """A batch where every configured field was present, non-null and well typed."""
        self._local.staged = Staged(records, None, renamed, dropped, unexpected)

    def stage(self, staged: Staged) -> None:
        """A batch counted value by value."""
        self._local.staged = staged

    def commit(self) -> None:
        """Add this thread's staged batch (if any) to the lifetime counts."""
        staged = self._local.__dict__.pop("staged", None)
        if staged is None:
            return
        with self._lock:
            self._records += staged.records
            self._renamed += staged.renamed
            self._dropped += staged.dropped
            self._unexpected += staged.unexpected
            if staged.per_field is None:
                self._clean += staged.records
            else:
                for total, add in zip(self._counts, staged.per_field):
                    for i in range(4):
                        total[i] += add[i]

    def discard(self) -> None:
        """Forget this thread's staged batch (the call failed on several records and will be retried)."""
        self._local.__dict__.pop("staged", None)

    def snapshot(self) -> DataQuality:
        """The lifetime counts as a :class:`~packflow.backend.metrics.DataQuality`."""
        from packflow.backend.metrics import DataQuality, FieldCounts

        with self._lock:
            clean = self._clean
            fields = {
                name: FieldCounts(present=c[0] + clean, missing=c[1], null=c[2], type_mismatch=c[3])
                for name, c in zip(self.fields, self._counts)
            }
            return DataQuality(records=self._records, fields=fields, renamed=self._renamed,
                               dropped=self._dropped, unexpected=self._unexpected)


def count_values(rows: list[tuple], width: int, missing: Any, mismatch: Any = None) -> list[list[int]]:
    """Per column of ``rows`` (first ``width`` columns): [present, missing, null, mismatch] counts.

    ``mismatch(column, value)`` says whether a present value has the wrong type (None: never).
    """
    counts = [[0, 0, 0, 0] for _ in range(width)]
    for row in rows:
        for j in range(width):
            value = row[j]
            c = counts[j]
            if value is missing:
                c[1] += 1
            elif value is None:
                c[2] += 1
            else:
                c[0] += 1
                if mismatch is not None and mismatch(j, value):
                    c[3] += 1
    return counts
