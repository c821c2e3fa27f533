"""The JSON codec every driver shares, so a backend's output encodes the same way everywhere.

With orjson installed (the ``serve``/``redis`` extras and ``dev`` bring it), ``dumps`` first tries
plain orjson (fast for JSON-native values and numpy arrays), then once more converting numpy,
pandas, torch and PIL values and non-string keys through
:func:`packflow.utils.normalize.ensure_native_types`. Without orjson the standard library does the
same, more slowly. Either way a value that cannot be encoded raises ``TypeError``.
"""

from __future__ import annotations

import json
from typing import Any, Callable

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the run tests that hide orjson
    _orjson = None  # type: ignore[assignment]

__all__ = ["HAVE_ORJSON", "dumps", "dumps_native", "loads"]

HAVE_ORJSON = _orjson is not None


def _to_native(value: Any) -> Any:
    from packflow.utils.normalize import ensure_native_types

    return ensure_native_types(value)


if _orjson is not None:
    loads: Callable[[bytes | str], Any] = _orjson.loads
    #: JSON-native values only (no conversion attempt): the cheapest call, for hot paths that fall
    #: back to :func:`dumps` on ``TypeError``.
    dumps_native: Callable[[Any], bytes] = _orjson.dumps
    _FAST = _orjson.OPT_SERIALIZE_NUMPY
    _FULL = _orjson.OPT_SERIALIZE_NUMPY | _orjson.OPT_NON_STR_KEYS

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON of ``value``; NaN and infinities become ``null`` (orjson's rule)."""
        try:
            return _orjson.dumps(value, option=_FAST)
        except TypeError:
            return _orjson.dumps(value, default=_to_native, option=_FULL)

else:  # pragma: no cover
    loads = json.loads

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON of ``value``; NaN and infinities are refused with ``TypeError``."""
        try:
            text = json.dumps(value, default=_to_native, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            raise TypeError(str(exc)) from exc
        return text.encode("utf-8")

    dumps_native = dumps
