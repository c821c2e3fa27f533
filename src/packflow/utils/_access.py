"""Compiled field-access plans: nested lookups turned into one generated function per plan.

A plan is compiled once (at preprocessor construction); the per-batch path runs a generated
``lambda r: (r['a']['b'], r['c'], ...)`` over all records and falls back, per record, to the exact
reference lookup only when a record is missing a field or has an unusual shape.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["MISSING", "RowGetter", "compile_row_getter", "lookup_flat", "lookup_nested"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class _NotLeaf(LookupError):
    """Raised by generated code when a path ends on a container that flattening would expand."""


def _not_leaf() -> Any:
    raise _NotLeaf()


def _index(container: Any, key: str, position: int) -> Any:
    return container[position] if type(container) is list else container[key]


def _as_index(part: str) -> int | None:
    """The list position a flattened key part stands for ("0", "12"), or None."""
    if part.isascii() and part.isdigit() and (part == "0" or part[0] != "0"):
        return int(part)
    return None


def _walk(obj: Any, parts: Sequence[str], lists: bool) -> Any:
    current = obj
    for part in parts:
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif lists and isinstance(current, list) and (pos := _as_index(part)) is not None and pos < len(current):
            current = current[pos]
        else:
            return MISSING
    return current


def _is_leaf(value: Any, lists: bool) -> bool:
    if isinstance(value, dict):
        return not value
    if lists and isinstance(value, list):
        return not value
    return True


def lookup_nested(obj: dict, field: str, delimiter: str) -> Any:
    """Literal key ``field`` if present, else walk the dict path; MISSING when absent."""
    if field in obj:
        return obj[field]
    if delimiter not in field:
        return MISSING
    return _walk(obj, field.split(delimiter), False)


def lookup_flat(obj: dict, field: str, delimiter: str, lists: bool) -> Any:
    """The value ``flatten_dict(obj, delimiter, lists).get(field)`` would give, without flattening."""
    value = obj[field] if field in obj else _walk(obj, field.split(delimiter), lists)
    if value is not MISSING and _is_leaf(value, lists):
        return value
    return _find_flat(obj, field, delimiter, lists, True)


def _find_flat(node: Any, field: str, delimiter: str, lists: bool, top: bool) -> Any:
    """Search the flattened view of ``node`` for ``field`` key by key (keys may contain the delimiter)."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif lists and isinstance(node, list):
        items = enumerate(node)
    else:
        return MISSING
    for key, child in items:
        name = key if top else str(key)
        if name == field:
            if _is_leaf(child, lists):
                return child
            continue
        text = str(key)
        if field.startswith(text) and field.startswith(delimiter, len(text)) and not _is_leaf(child, lists):
            found = _find_flat(child, field[len(text) + len(delimiter) :], delimiter, lists, False)
            if found is not MISSING:
                return found
    return MISSING


def _exact_lookup(mode: str, delimiter: str, lists: bool) -> Callable[[dict, str], Any]:
    if mode == "direct":
        return lambda obj, field: lookup_nested(obj, field, delimiter)
    if mode == "flat":
        return lambda obj, field: lookup_flat(obj, field, delimiter, lists)

    def field_lookup(obj: dict, field: str) -> Any:  # mode == "field": get_nested_field semantics
        return obj[field] if field in obj else lookup_flat(obj, field, delimiter, False)

    return field_lookup


def _expression(path: str, delimiter: str, mode: str, lists: bool, checked: bool = True) -> str:
    """Python source reading ``path`` from a record ``r``; raises LookupError/TypeError when unusual."""
    literal = f"r[{path!r}]"
    if delimiter in path:
        walk = "r"
        for part in path.split(delimiter):
            position = _as_index(part) if lists else None
            if position is not None:
                walk = f"_index({walk}, {part!r}, {position})"
            else:
                walk = f"{walk}[{part!r}]"
        expr = f"({literal} if {path!r} in r else {walk})"
    else:
        expr = literal
    if mode == "direct" or not checked or (delimiter not in path and mode != "flat"):
        return expr
    if lists and mode == "flat":
        return f"(_v if (type(_v := {expr}) is not dict and type(_v) is not list or not _v) else _not_leaf())"
    return f"(_v if (type(_v := {expr}) is not dict or not _v) else _not_leaf())"


def _compile(paths: list[str], delimiter: str, mode: str, lists: bool, checked: bool) -> tuple[Any, Any, str]:
    """(one-record function, whole-batch function, batch source) for the given paths."""
    body = ", ".join(_expression(p, delimiter, mode, lists, checked) for p in paths)
    row = f"({body}{',' if len(paths) == 1 else ''})"
    namespace = {"_index": _index, "_not_leaf": _not_leaf}
    batch_source = f"lambda rs: [{row} for r in rs]"
    # The source is built from repr()s of the configured paths only.
    one = eval(f"lambda r: {row}", namespace)  # noqa: S307
    batch = eval(batch_source, namespace)  # noqa: S307
    return one, batch, batch_source


class RowGetter:
    """Extracts a fixed tuple of fields from each record; MISSING marks an absent field.

    The whole batch first goes through one generated list comprehension; only if a record is
    missing a field or has an unusual shape is the batch redone record by record, using the
    exact (reference) lookup for the records that need it.
    """

    def __init__(self, paths: list[str], delimiter: str, mode: str, lists: bool) -> None:
        self.paths = paths
        self.fast, self.fast_batch, self.source = _compile(paths, delimiter, mode, lists, True)
        # Without leaf checks: only for numpy output, where a non-leaf (a dict) forces an object array.
        self.unchecked_batch = _compile(paths, delimiter, mode, lists, False)[1] if mode == "field" else None
        exact = _exact_lookup(mode, delimiter, lists)
        self.exact: Callable[[dict], tuple] = lambda r: tuple(exact(r, p) for p in paths)

    def rows(self, records: list) -> list[tuple]:
        """One tuple per record, in order; raises TypeError naming the index of a non-dict record."""
        return self._rows(records)[0]

    def _rows(self, records: list) -> tuple[list[tuple], bool]:
        try:
            return self.fast_batch(records), False
        except (LookupError, TypeError):
            return self._careful_rows(records), True

    def _careful_rows(self, records: list) -> list[tuple]:
        fast, exact = self.fast, self.exact
        out = []
        for index, record in enumerate(records):
            if type(record) is not dict and not isinstance(record, dict):
                raise _RecordTypeError(index, record)
            try:
                out.append(fast(record))
            except (LookupError, TypeError):
                out.append(exact(record))
        return out

    def to_ndarray(self, records: list, dtype: Any = None) -> Any:
        """Rows as a 2-D numpy array; missing fields become NaN (numeric data) or None (object)."""
        import numpy as np

        if not records:
            return np.array([], dtype=dtype)  # as packflow 0.4.1: no records, an empty 1-D array
        fast_rows = self._unchecked_rows(records)
        if fast_rows is not None:
            try:
                array = np.array(fast_rows, dtype=dtype)
            except (TypeError, ValueError, OverflowError):
                pass  # ragged, mixed or non-leaf values: the careful path below decides
            else:
                # An object array may hold a non-leaf dict the unchecked path let through: redo it.
                if array.dtype != object and array.ndim == 2:
                    return array
        rows, careful = self._rows(records)
        if not careful and dtype is not None:
            return np.array(rows, dtype=dtype)
        return _array_with_missing(np, rows, dtype)

    def _unchecked_rows(self, records: list) -> list[tuple] | None:
        batch = self.unchecked_batch or self.fast_batch
        try:
            return batch(records)
        except (LookupError, TypeError):
            return None


def _array_with_missing(np: Any, rows: list[tuple], dtype: Any) -> Any:
    """The slow path: NaN-filled float array for numeric data, else a 2-D object array cell by cell."""
    cleaned = [None if v is MISSING else v for row in rows for v in row]
    shape = (len(rows), len(rows[0]))
    numeric = all(v is None or (type(v) in (int, float)) for v in cleaned)
    floating = dtype is not None and np.dtype(dtype).kind == "f"
    if (numeric and dtype is None) or floating:
        return np.array([np.nan if v is None else v for v in cleaned], dtype=dtype or float).reshape(shape)
    array = np.empty(len(cleaned), dtype=object)
    for index, value in enumerate(cleaned):
        array[index] = value
    array = array.reshape(shape)
    return array if dtype is None or np.dtype(dtype) == object else array.astype(dtype)


class _RecordTypeError(TypeError):
    def __init__(self, index: int, record: Any) -> None:
        super().__init__(f"record {index} is a {type(record).__name__}, not a dict")
        self.index = index


def compile_row_getter(paths: list[str], delimiter: str, mode: str, lists: bool = False) -> RowGetter:
    """Compile ``paths`` into a :class:`RowGetter`.

    ``mode`` picks the lookup semantics: ``direct`` (literal key, else walk dicts; any value),
    ``flat`` (the value in the flattened record, leaves only) or ``field`` (literal key as is,
    else the flattened value without list enumeration).
    """
    if mode not in ("direct", "flat", "field"):
        raise ValueError(f"unknown access mode {mode!r}")
    return RowGetter(paths, delimiter, mode, lists)
