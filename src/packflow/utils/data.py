"""Record utilities: flattening, nested field access, records → ndarray."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packflow.exceptions import InvalidRecordsError
from packflow.utils._access import MISSING, compile_row_getter, lookup_flat, lookup_nested

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "check_delimiter_collisions",
    "flatten_dict",
    "flatten_records",
    "get_nested_field",
    "get_nested_field_direct",
    "records_to_ndarray",
    "set_nested_field_direct",
]


def check_delimiter_collisions(obj: dict, delimiter: str, path: str = "") -> list[str]:
    """Paths (joined with ``delimiter``) of every key, at any depth, that contains ``delimiter``."""
    found: list[str] = []
    for key, value in obj.items():
        current = f"{path}{delimiter}{key}" if path else str(key)
        if isinstance(key, str) and delimiter in key:
            found.append(current)
        if isinstance(value, dict):
            found.extend(check_delimiter_collisions(value, delimiter, current))
    return found


def get_nested_field_direct(obj: dict, field: str, delimiter: str = ".") -> Any:
    """Value at ``field`` (a literal key first, else a ``delimiter``-separated path), or None."""
    value = lookup_nested(obj, field, delimiter)
    return None if value is MISSING else value


def set_nested_field_direct(obj: dict, field: str, value: Any, delimiter: str = ".") -> None:
    """Set ``value`` at the path ``field`` in ``obj``, creating dicts; stops at a non-dict on the way."""
    parts = field.split(delimiter)
    current = obj
    for part in parts[:-1]:
        nxt = current.get(part)
        if nxt is None and part not in current:
            nxt = current[part] = {}
        elif not isinstance(nxt, dict):
            return
        current = nxt
    current[parts[-1]] = value


def get_nested_field(obj: dict, field: str, delimiter: str | None = None) -> Any:
    """``obj[field]`` if that key exists, else the value of ``field`` in the flattened view of ``obj``
    (lists not enumerated), or None."""
    if field in obj:
        return obj[field]
    value = lookup_flat(obj, field, delimiter or ".", False)
    return None if value is MISSING else value


def flatten_dict(obj: dict, delimiter: str = ".", flatten_lists: bool = False) -> dict:
    """Flatten nested dicts (and lists, if asked) into one level of ``delimiter``-joined keys.

    Empty dicts and lists are kept as values. Two paths that flatten to the same key raise
    ``ValueError`` naming the key.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"flatten_dict expects a dict, got {type(obj).__name__}")
    out: dict = {}
    for key, value in obj.items():
        _flatten_into(out, value, key, delimiter, flatten_lists)
    return out


def _flatten_into(out: dict, value: Any, prefix: Any, delimiter: str, lists: bool) -> None:
    if isinstance(value, dict) and value:
        items = value.items()
    elif lists and isinstance(value, list) and value:
        items = enumerate(value)  # type: ignore[assignment]
    else:
        if prefix in out:
            raise ValueError(f"Flattening produced the key {prefix!r} twice; a key contains the delimiter {delimiter!r}")
        out[prefix] = value
        return
    for key, child in items:
        _flatten_into(out, child, f"{prefix}{delimiter}{key}", delimiter, lists)


def flatten_records(records: list[dict], delimiter: str = ".", flatten_lists: bool = False) -> list[dict]:
    """:func:`flatten_dict` applied to each record."""
    if not isinstance(records, list):
        raise TypeError(f"flatten_records expects a list of dicts, got {type(records).__name__}")
    return [flatten_dict(r, delimiter, flatten_lists) for r in records]


def records_to_ndarray(
    records: list[dict],
    feature_names: list[str],
    dtype: Any = None,
    delimiter: str | None = None,
) -> "np.ndarray":
    """A 2-D array with one row per record and one column per feature (nested paths allowed).

    Missing values are None; when every present value is numeric they become NaN in a float array.
    No records give an empty 1-D array (``np.array([], dtype)``), as in packflow 0.4.1.
    Raises ``InvalidRecordsError`` (a ``ValueError``) when ``records`` is not a list of dicts.
    """
    if not isinstance(records, list):
        raise InvalidRecordsError(
            f"Value for `records` must be a list of dictionaries; got {type(records).__name__}."
        )
    getter = compile_row_getter(list(feature_names), delimiter or ".", "field")
    try:
        return getter.to_ndarray(records, dtype)
    except TypeError as exc:
        index = getattr(exc, "index", None)
        if index is None:
            raise
        raise InvalidRecordsError(
            f"Value at index {index} is not a dictionary (got {type(records[index]).__name__}); "
            "records must be dicts."
        ) from exc
