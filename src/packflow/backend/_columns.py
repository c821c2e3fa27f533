"""The numpy preprocessor's column plan: one dtype per column, fixed at construction.

A column's dtype comes from ``feature_dtypes[name]``, else ``numpy_dtype``, else ``float64`` —
never from the values in the batch. The array's dtype is the common numeric type of the columns,
or ``object`` when any column is ``str`` or ``object`` (a fixed-width ``<U`` dtype would depend on
the longest string in the batch). A value that does not fit its column, or a missing value in an
array that cannot hold one (integers, booleans), is a per-record error naming the field.
"""

from __future__ import annotations

from typing import Any, Callable

from packflow.exceptions import PreprocessorInitError
from packflow.utils._access import MISSING

__all__ = ["ColumnPlan", "ColumnProblem"]

_NUMERIC_KINDS = {"f": "biuf", "c": "biufc", "i": "biu", "u": "biu", "b": "b"}


class ColumnProblem:
    """The first value of a batch that could not be converted: where and why."""

    __slots__ = ("record", "field", "reason")

    def __init__(self, record: int, field: str, reason: str) -> None:
        self.record, self.field, self.reason = record, field, reason


def _dtype(np: Any, name: str, text: str) -> Any:
    try:
        return np.dtype(text)
    except (TypeError, ValueError) as exc:
        raise PreprocessorInitError(
            f"{name}: {text!r} is not a numpy dtype; use e.g. 'float64', 'float32', 'int64', 'bool', 'str' or 'object'."
        ) from exc


def _accepts(np: Any, kind: str) -> Callable[[Any], bool]:
    """Whether a (present, non-null) value belongs in a column of numpy dtype ``kind``."""
    if kind in "fc":
        return lambda v: type(v) in (int, float, bool) or isinstance(v, (np.number, np.bool_))
    if kind in "iu":
        return lambda v: type(v) in (int, bool) or isinstance(v, (np.integer, np.bool_))
    if kind == "b":
        return lambda v: type(v) is bool or isinstance(v, np.bool_)
    if kind in "US":
        return lambda v: isinstance(v, str)
    return lambda v: True


class ColumnPlan:
    """Converts rows (tuples of field values) to a 2-D array with the configured dtypes."""

    def __init__(self, names: list[str], numpy_dtype: str | None, feature_dtypes: dict[str, str]) -> None:
        import numpy as np

        self.np = np
        unknown = sorted(set(feature_dtypes) - set(names))
        if unknown:
            raise PreprocessorInitError(f"feature_dtypes names {unknown}, which are not in feature_names {names}.")
        default = numpy_dtype or "float64"
        self.names = names
        self.dtypes = [_dtype(np, f"feature_dtypes[{n!r}]" if n in feature_dtypes else "numpy_dtype",
                              feature_dtypes.get(n, default)) for n in names]
        kinds = [d.kind for d in self.dtypes]
        self.numeric = all(k in _NUMERIC_KINDS for k in kinds)
        self.array_dtype = np.result_type(*self.dtypes) if self.numeric else np.dtype(object)
        # Kinds an inferred np.array(rows) may have for every value to fit every column.
        self.clean_kinds = set.intersection(*(set(_NUMERIC_KINDS[k]) for k in kinds)) if self.numeric else set()
        self.accepts = [_accepts(np, k) for k in kinds]
        self.holds_missing = self.array_dtype.kind in "fcO"

    def fast(self, rows: list[tuple]) -> Any:
        """The array when numpy's own inference shows every value fits (no None, no text), else None."""
        if not self.clean_kinds:
            return None
        try:
            array = self.np.array(rows)
        except (TypeError, ValueError, OverflowError):
            return None
        if array.ndim != 2 or array.dtype.kind not in self.clean_kinds:
            return None
        width = len(self.names)
        if array.shape[1] != width:
            array = array[:, :width]
        return array.astype(self.array_dtype, copy=False)

    def mismatch(self, column: int, value: Any) -> bool:
        """Whether a present value has the wrong type for ``column`` (for the data-quality counts)."""
        return column < len(self.accepts) and not self.accepts[column](value)

    def convert(self, rows: list[tuple]) -> tuple[Any, ColumnProblem | None]:
        """The array cell by cell, and the first value that did not fit (the array is None then)."""
        width, problem = len(self.names), None
        cells: list[Any] = []
        fill = self.np.nan if self.array_dtype.kind in "fc" else None
        for index, row in enumerate(rows):
            for j in range(width):
                value = row[j]
                if value is MISSING or value is None:
                    if not self.holds_missing:
                        problem = problem or ColumnProblem(index, self.names[j], self._missing_reason(j, value))
                    cells.append(fill)
                elif self.accepts[j](value):
                    cells.append(value)
                else:
                    problem = problem or ColumnProblem(index, self.names[j], self._type_reason(j, value))
                    cells.append(fill)
        if problem is not None:
            return None, problem
        return self._assemble(cells, len(rows), width), None

    def _assemble(self, cells: list[Any], rows: int, width: int) -> Any:
        np = self.np
        if self.numeric:
            try:
                return np.array(cells, dtype=self.array_dtype).reshape(rows, width)
            except OverflowError:
                pass  # an integer too large for the column: found and reported cell by cell below
        array = np.empty(len(cells), dtype=object)
        for i, value in enumerate(cells):
            array[i] = value
        array = array.reshape(rows, width)
        return array if not self.numeric else array.astype(self.array_dtype)

    def _missing_reason(self, column: int, value: Any) -> str:
        what = "is missing" if value is MISSING else "is null"
        return (f"{what} and the array dtype {self.array_dtype} cannot hold a missing value; send a value, "
                "or give the column a float dtype (NaN) or 'object' (None)")

    def _type_reason(self, column: int, value: Any) -> str:
        return (f"holds {type(value).__name__} {value!r:.40}, which does not fit the column's dtype "
                f"{self.dtypes[column]}; fix the input or set feature_dtypes={{{self.names[column]!r}: 'object'}}")
