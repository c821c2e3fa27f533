"""The one codec every driver shares: decode rules, encode with fallback, and the dead-letter builder.

Rules (the same for ``run``, ``serve``, ``stream``, Ray, Spark, ``check_io`` and ``packflow.testing``):

- **Decode** (:func:`decode`, :func:`decode_record`): strict JSON in UTF-8. Integers of any width
  stay exact Python ints (``18446744073709551616`` is never turned into a float). ``NaN``,
  ``Infinity`` and numbers too large for a float (``1e400``) are not JSON numbers and raise
  :class:`~packflow.exceptions.DecodeError`, as does anything else that is not JSON.
- **Encode** (:func:`encode`): compact UTF-8 JSON. numpy, pandas, torch and PIL values and
  non-string keys are converted (:func:`packflow.utils.normalize.ensure_native_types`); integers of
  any width are written exactly; **NaN and ±Infinity are written as** ``null`` — the one rule
  for non-finite floats, everywhere. A value that still cannot be encoded raises
  :class:`~packflow.exceptions.EncodeError`.
- **Dead letters** (:func:`dead_letter`): the record *as the driver received it*, the step that
  failed, the error type and a message.

Cost model: with orjson installed (the ``serve``/``redis`` extras bring it) the clean path is one
orjson call plus, on decode, one C-speed regex scan for a run of 19 digits — the only inputs orjson
could turn into floats. Inputs with such a run (rare: a >64-bit id, a long decimal) take the exact
standard-library path. Without orjson the standard library is used throughout, more slowly, with
the same results.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

from packflow.exceptions import DecodeError, EncodeError
from packflow.runtime.deadletter import dead_letter

try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the tests that hide orjson
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "HAVE_ORJSON",
    "DecodeError",
    "EncodeError",
    "dead_letter",
    "decode",
    "decode_many",
    "decode_record",
    "encode",
    "encode_native",
    "json_kind",
    "snapshot",
]

HAVE_ORJSON = _orjson is not None

#: 19 digits in a row: the shortest integer that may not fit 64 bits (orjson would make it a float).
_LONG_DIGITS = re.compile(rb"\d{19}")
_LONG_DIGITS_TEXT = re.compile(r"\d{19}")
_HINT = "send UTF-8 JSON (NaN and Infinity are not JSON: send null or a string instead)"
_INT64 = (-(1 << 63), (1 << 64) - 1)  # what orjson writes natively (int64 and uint64)


# -- decoding ------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise DecodeError(f"the input holds {name}, which is not a JSON number; {_HINT}")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise DecodeError(f"the number {text[:40]} is too large for a float; send it as a string")
    return value


_STDLIB_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


#: Maps every ASCII digit to "0" and every other byte to " ": a run of 19 digits becomes b"0" * 19.
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_LONG_RUN = b"0" * 19


def _has_long_digits(data: Any) -> bool:
    if type(data) is bytes:  # translate + substring search: several times faster than the regex
        return _LONG_RUN in data.translate(_DIGITS_TO_ZERO)
    pattern = _LONG_DIGITS_TEXT if isinstance(data, str) else _LONG_DIGITS
    return pattern.search(data) is not None


def _decode_exact(data: Any) -> Any:
    """The standard-library path: exact integers of any width, same refusals as orjson."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"the input is not UTF-8 ({exc}); {_HINT}") from None
    try:
        return _STDLIB_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise DecodeError(f"the input is not valid JSON ({exc}); {_HINT}") from None
    except RecursionError:
        raise DecodeError(f"the input is nested too deeply to decode; {_HINT}") from None
    except ValueError as exc:  # DecodeError from the hooks, or an integer over Python's digit limit
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"the input holds a number that cannot be read ({exc}); send it as a string") from None


def _check_type(data: Any) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"decode() takes bytes or str, got {type(data).__name__}")


if _orjson is not None:
    _orjson_loads = _orjson.loads
    _OrjsonDecodeError = _orjson.JSONDecodeError

    def decode(data: bytes | str) -> Any:
        """The JSON value in ``data``; exact wide integers; :class:`DecodeError` for anything else."""
        _check_type(data)
        if _has_long_digits(data):
            return _decode_exact(data)
        try:
            return _orjson_loads(data)
        except _OrjsonDecodeError as exc:
            raise DecodeError(f"the input is not valid JSON ({exc}); {_HINT}") from None

    def decode_many(items: list) -> list:
        """:func:`decode` of each item; the common case (no 19-digit run anywhere) is one C loop."""
        pattern = _LONG_DIGITS_TEXT if items and isinstance(items[0], str) else _LONG_DIGITS
        try:
            if not any(map(pattern.search, items)):
                return list(map(_orjson_loads, items))
        except (_OrjsonDecodeError, TypeError):  # a bad item (found again below, with its message), mixed types
            pass
        return list(map(decode, items))

else:  # pragma: no cover

    def decode(data: bytes | str) -> Any:
        """The JSON value in ``data``; exact wide integers; :class:`DecodeError` for anything else."""
        _check_type(data)
        return _decode_exact(data)

    def decode_many(items: list) -> list:
        """:func:`decode` of each item."""
        return list(map(decode, items))


def decode_record(data: bytes | str) -> dict:
    """Like :func:`decode`, but the value must be a JSON object (one record)."""
    value = decode(data)
    if type(value) is not dict:
        raise DecodeError(f"the input is a JSON {json_kind(value)}, not an object; send one JSON object per record")
    return value


def json_kind(value: Any) -> str:
    """The JSON name of a decoded value's type: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    names = {dict: "object", list: "array", str: "string", bool: "boolean"}
    return names.get(type(value), "number")


# -- encoding ------------------------------------------------------------------------------------


def _to_native(value: Any) -> Any:
    from packflow.utils.normalize import ensure_native_types

    return ensure_native_types(value)


def _encode_error(value: Any, exc: BaseException) -> EncodeError:
    return EncodeError(
        f"the value cannot be encoded as JSON ({exc}); return JSON-native values "
        "(dict, list, str, int, float, bool, None) or numpy/pandas/torch/PIL values"
    )


def _walk(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to every non-container item (dicts, lists and tuples rebuilt)."""
    if isinstance(value, dict):
        return {k: _walk(v, leaf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_walk(v, leaf) for v in value]
    return leaf(value)


if _orjson is not None:
    _FAST = _orjson.OPT_SERIALIZE_NUMPY
    _FULL = _orjson.OPT_SERIALIZE_NUMPY | _orjson.OPT_NON_STR_KEYS
    _orjson_dumps = _orjson.dumps
    #: JSON-native values only, no conversion attempt: the cheapest call, for hot paths that fall
    #: back to :func:`encode` on ``TypeError``.
    encode_native: Callable[[Any], bytes] = _orjson.dumps

    def _exact_int(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not _INT64[0] <= value <= _INT64[1]:
            return _orjson.Fragment(_int_text(value))
        return value

    def encode(value: Any) -> bytes:
        """Compact UTF-8 JSON; conversions, exact wide ints, NaN/±Inf as ``null``; else :class:`EncodeError`."""
        try:
            return _orjson_dumps(value, option=_FAST)
        except TypeError:
            pass
        try:
            return _orjson_dumps(value, default=_to_native, option=_FULL)
        except TypeError as exc:
            first = exc
        try:  # integers wider than 64 bits: written as exact JSON fragments
            return _orjson_dumps(_walk(_to_native(value), _exact_int), option=_FULL)
        except (TypeError, ValueError, RecursionError):
            raise _encode_error(value, first) from first

else:  # pragma: no cover
    _STDLIB_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_to_native)

    def _finite(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    def encode(value: Any) -> bytes:
        """Compact UTF-8 JSON; conversions, exact wide ints, NaN/±Inf as ``null``; else :class:`EncodeError`."""
        try:
            return _STDLIB_ENCODER.encode(value).encode("utf-8")
        except ValueError:  # a non-finite float (or an int over Python's digit limit)
            pass
        except (TypeError, RecursionError) as exc:
            raise _encode_error(value, exc) from exc
        try:
            return _STDLIB_ENCODER.encode(_walk(_to_native(value), _finite)).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:
            raise _encode_error(value, exc) from exc

    encode_native = encode


def _int_text(value: int) -> bytes:
    try:
        return str(value).encode("ascii")
    except ValueError as exc:  # over Python's int digit limit
        raise TypeError(str(exc)) from None


# -- dead letters ------------------------------------------------------------------------------
# ``dead_letter`` is defined beside ``DeadLetter`` (so the Runner builds dead letters without
# importing a JSON library) and is part of this module's API.


def snapshot(records: list) -> Callable[[int, int], list]:
    """A ``fresh(lo, hi)`` for the Runner from decoded records (for drivers that keep no raw bytes):
    one encode of the batch now, decoded again only if the batch fails. Records that cannot be
    encoded are deep-copied instead."""
    try:
        data = encode(records)
    except EncodeError:
        import copy

        saved = copy.deepcopy(records)
        return lambda lo, hi: copy.deepcopy(saved[lo:hi])
    return lambda lo, hi: decode(data)[lo:hi]
