"""Turn numpy / pandas / torch / PIL values into JSON-native Python values."""

from packflow.utils.normalize.normalize import ensure_native_types, ensure_valid_output

__all__ = ["ensure_native_types", "ensure_valid_output"]
