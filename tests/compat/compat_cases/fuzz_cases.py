"""Cases over generated data (see test_fuzz.py): record access, flattening and preprocessing."""

from __future__ import annotations

from compat_cases._registry import fuzz


@fuzz
def fuzz_get_nested_field(doc, field, delimiter):
    from packflow.utils import get_nested_field

    return get_nested_field(doc, field, delimiter)


@fuzz
def fuzz_get_nested_field_direct(doc, field, delimiter):
    from packflow.utils import get_nested_field_direct

    return get_nested_field_direct(doc, field, delimiter)


@fuzz
def fuzz_flatten_dict(doc, delimiter, lists):
    from packflow.utils import flatten_dict

    return flatten_dict(doc, delimiter=delimiter, flatten_lists=lists)


@fuzz
def fuzz_collisions(doc, delimiter):
    from packflow.utils import check_delimiter_collisions

    return check_delimiter_collisions(doc, delimiter)


@fuzz
def fuzz_records_to_ndarray(records, features, delimiter):
    from packflow.utils import records_to_ndarray

    return records_to_ndarray(records, features, delimiter=delimiter)


@fuzz
def fuzz_records_preprocessor(records, config):
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.preprocessors import get_preprocessor

    return get_preprocessor(BackendConfig(**config))(records)
