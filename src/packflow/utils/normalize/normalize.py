"""``ensure_native_types`` and ``ensure_valid_output``."""

from __future__ import annotations

from typing import Any, Iterable

from packflow.utils.normalize.handlers import convert_builtin, convert_foreign

__all__ = ["ensure_native_types", "ensure_valid_output"]

_SCALARS = (str, int, float, bool, type(None))
_KEY_TYPES = (str, int, float, bool, type(None))


def ensure_native_types(obj: Any) -> Any:
    """Recursively convert ``obj`` to JSON-native types (dict, list, str, int, float, bool, None).

    numpy, pandas, torch and PIL values are converted when those libraries are in use; so are
    ``bytes`` (to a base64 string), ``Decimal`` (to an int when integral, else the nearest float;
    NaN and infinities to None), dates and times (ISO 8601 strings), pandas' missing values
    (``pd.NA``, ``pd.NaT`` → None) and numpy-typed dict keys. Any other type raises ``TypeError``
    naming it. See docs/backends.md for the full table.
    """
    if type(obj) in _SCALARS:
        return obj
    if isinstance(obj, dict):
        return {_native_key(k): ensure_native_types(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [ensure_native_types(v) for v in obj]
    recognised, converted = convert_foreign(obj)
    if not recognised:
        recognised, converted = convert_builtin(obj)
    if recognised:
        return ensure_native_types(converted)
    if isinstance(obj, _SCALARS):  # a subclass such as a str-valued Enum
        return obj
    raise TypeError(
        f"Cannot convert a value of type {type(obj).__module__}.{type(obj).__qualname__} to a JSON-native "
        "type; return dict, list, str, int, float, bool or None from your backend."
    )


def _native_key(key: Any) -> Any:
    """A dict key as a JSON-native scalar (``np.int64(3)`` → ``3``); a key that cannot be one raises TypeError."""
    if type(key) in _KEY_TYPES:
        return key
    native = ensure_native_types(key)
    if not isinstance(native, _KEY_TYPES):
        raise TypeError(
            f"Cannot use a dict key of type {type(key).__qualname__} ({key!r:.40}) in JSON; keys must be "
            "strings or numbers."
        )
    return native


def ensure_valid_output(output: Iterable[Any], parent_key: str = "output") -> list[dict[str, Any]]:
    """Records from model output: each item made native, non-dicts wrapped as ``{parent_key: value}``.

    A one-element list is unwrapped first (``[0.3]`` becomes ``{"output": 0.3}``).
    """
    records = []
    for item in output:
        value = ensure_native_types(item)
        if not isinstance(value, dict):
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            value = {parent_key: value}
        records.append(value)
    return records
