"""The part of a preprocessor's plan that checks ``required_fields`` and counts data quality."""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any, Callable

from packflow.backend.quality import QualityCounters, Staged, count_values
from packflow.exceptions import PreprocessorRuntimeError
from packflow.utils._access import MISSING

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.configuration import BackendConfig

__all__ = ["FieldPlan"]


class FieldPlan:
    """Compiled once per preprocessor: the configured fields, which are required, which are renamed.

    ``dropping``: the output is a selection, so top-level keys no field refers to are dropped;
    ``drops_nulls``: null values are left out of the output (the records preprocessor).
    """

    def __init__(self, owner: Any, paths: list[str], cfg: BackendConfig, *, dropping: bool, renamed: int,
                 drops_nulls: bool = False) -> None:
        source_of = {dst: src for src, dst in cfg.rename_fields.items()}
        self.paths = paths
        self.counters = QualityCounters(paths)
        owner.quality = self.counters
        wanted = {source_of.get(f, f) for f in cfg.required_fields}
        self.required = [(j, p) for j, p in enumerate(paths) if p in wanted]
        self.rename_columns = [j for j, p in enumerate(paths) if p in cfg.rename_fields]
        self.renamed = renamed
        self.dropping, self.drops_nulls = dropping, drops_nulls
        delimiter = cfg.nested_field_delimiter
        self.tops = {p.split(delimiter, 1)[0] for p in paths} | set(paths)
        self.n_tops = len({p.split(delimiter, 1)[0] for p in paths})

    def clean(self, records: list) -> None:
        """Stage a batch where every configured field is present and usable: O(1) besides one ``len`` per record."""
        n = len(records)
        unexpected = sum(map(len, records)) - n * self.n_tops if self.dropping else 0
        self.counters.stage_clean(n, n * self.renamed, unexpected, unexpected)

    def clean_or_careful(self, records: list, rows: list[tuple]) -> None:
        """The records preprocessor's check: clean unless a configured value is None."""
        if not self.required and list(chain.from_iterable(rows)).count(None) == 0:
            self.clean(records)
        else:
            self.careful(records, rows, None)

    def careful(self, records: list, rows: list[tuple], mismatch: Callable[[int, Any], bool] | None) -> None:
        """Count value by value, stage the counts, then raise for the first record missing a required field."""
        counts = count_values(rows, len(self.paths), MISSING, mismatch)
        unexpected = sum(len(r.keys() - self.tops) for r in records) if self.dropping else 0
        renamed = sum(counts[j][0] for j in self.rename_columns)
        nulls = sum(c[2] for c in counts) if self.drops_nulls else 0
        self.counters.stage(Staged(len(records), counts, renamed, unexpected + nulls, unexpected))
        self._check_required(rows)

    def _check_required(self, rows: list[tuple]) -> None:
        for index, row in enumerate(rows):
            for j, path in self.required:
                value = row[j]
                if value is MISSING or value is None:
                    what = "lacks" if value is MISSING else "has null for"
                    raise PreprocessorRuntimeError(
                        f"Record {index} {what} the required field {path!r}; send it, or remove it from required_fields.",
                        record_index=index,
                        field=path,
                    )
