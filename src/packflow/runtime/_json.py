"""Old name of :mod:`packflow.runtime.codec` (kept so existing imports work); use the codec."""

from __future__ import annotations

from packflow.runtime.codec import HAVE_ORJSON, decode, encode, encode_native

__all__ = ["HAVE_ORJSON", "dumps", "dumps_native", "loads"]

loads = decode
dumps = encode
dumps_native = encode_native
