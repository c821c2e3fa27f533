"""Record utilities (flattening, nested access, records → ndarray) and output normalisation."""

from packflow.utils.data import (
    check_delimiter_collisions,
    flatten_dict,
    flatten_records,
    get_nested_field,
    get_nested_field_direct,
    records_to_ndarray,
    set_nested_field_direct,
)
from packflow.utils.normalize import ensure_native_types, ensure_valid_output

__all__ = [
    "check_delimiter_collisions",
    "ensure_native_types",
    "ensure_valid_output",
    "flatten_dict",
    "flatten_records",
    "get_nested_field",
    "get_nested_field_direct",
    "records_to_ndarray",
    "set_nested_field_direct",
]
