"""Field rules of the built-in preprocessors: rename clashes, fixed numpy dtypes, required fields, data quality."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow import BackendConfig, InferenceBackend
from packflow.backend.preprocessors import get_preprocessor
from packflow.exceptions import ConfigurationError, InferenceBackendRuntimeError, PreprocessorInitError
from packflow.runtime import Runner, is_dead_letter

# -- rename clashes ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["records", "numpy"])
def test_two_sources_onto_one_target_is_a_configuration_error(fmt: str) -> None:
    with pytest.raises(ConfigurationError, match="maps both 'a' and 'b' onto 'x'"):
        get_preprocessor(BackendConfig(input_format=fmt, rename_fields={"a": "x", "b": "x"}, feature_names=["x"]))


@pytest.mark.parametrize("fmt", ["records", "numpy"])
def test_renaming_onto_a_key_that_is_itself_renamed_is_a_configuration_error(fmt: str) -> None:
    with pytest.raises(ConfigurationError, match="renames onto 'b', which is itself renamed"):
        get_preprocessor(BackendConfig(input_format=fmt, rename_fields={"a": "b", "b": "c"}, feature_names=["b", "c"]))


def test_a_backend_with_clashing_renames_fails_at_construction() -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    with pytest.raises(ConfigurationError):
        Echo(rename_fields={"a": "x", "b": "x"})


# -- numpy dtypes ------------------------------------------------------------------------------

VALUES = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False), st.none(),
                   st.just("text"), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({}, optional={"a": VALUES, "b": VALUES}), min_size=1, max_size=12),
       st.sampled_from([None, "float64", "float32", "object"]))
def test_numpy_column_dtype_does_not_depend_on_the_batch(records: list, dtype: str | None) -> None:
    """Every sub-batch that converts at all has the same dtype as every other."""
    to_array = get_preprocessor(BackendConfig(input_format="numpy", feature_names=["a", "b"], numpy_dtype=dtype))
    seen = set()
    for start in range(len(records)):
        for end in range(start + 1, len(records) + 1):
            try:
                seen.add(to_array(records[start:end]).dtype)
            except Exception as exc:  # noqa: BLE001 - a record that does not fit: checked below
                assert getattr(exc, "field", None) in ("a", "b")
    assert len(seen) <= 1
    assert seen <= {np.dtype(dtype or "float64")}


def test_one_string_or_none_does_not_change_a_numeric_batch() -> None:
    to_array = get_preprocessor(BackendConfig(input_format="numpy", feature_names=["x", "y"]))
    assert to_array([{"x": 1, "y": 2}]).dtype == np.float64
    assert to_array([{"x": 1, "y": None}]).dtype == np.float64
    with pytest.raises(Exception) as info:
        to_array([{"x": 1, "y": 2}, {"x": "oops", "y": 3}])
    assert (info.value.record_index, info.value.field) == (1, "x")
    assert "feature_dtypes={'x': 'object'}" in str(info.value)


def test_per_feature_dtypes() -> None:
    cfg = BackendConfig(input_format="numpy", feature_names=["n", "f"], feature_dtypes={"n": "int64", "f": "float32"})
    array = get_preprocessor(cfg)([{"n": 1, "f": 0.5}, {"n": 2, "f": 1}])
    assert array.dtype == np.float64 and array.tolist() == [[1, 0.5], [2, 1]]  # int64 with float32 -> float64
    ints = get_preprocessor(BackendConfig(input_format="numpy", feature_names=["n"], numpy_dtype="int32"))
    assert ints([{"n": 3}]).dtype == np.int32
    with pytest.raises(Exception, match="cannot hold a missing value"):
        ints([{"n": 3}, {}])
    text = get_preprocessor(BackendConfig(input_format="numpy", feature_names=["p", "n"], feature_dtypes={"p": "str"}))
    array = text([{"p": "tcp", "n": 1}, {"p": "udp", "n": 2.5}])
    assert array.dtype == object and array.tolist() == [["tcp", 1], ["udp", 2.5]]


@pytest.mark.parametrize("cfg", [{"numpy_dtype": "float99"}, {"feature_dtypes": {"zz": "float64"}}])
def test_bad_dtype_configuration_fails_at_construction(cfg: dict) -> None:
    with pytest.raises(PreprocessorInitError):
        get_preprocessor(BackendConfig(input_format="numpy", feature_names=["a"], **cfg))


# -- required fields ---------------------------------------------------------------------------


class Sum(InferenceBackend):
    def execute(self, inputs: Any) -> Any:
        return [{"sum": float(row.sum())} for row in inputs]


class Width(InferenceBackend):
    def execute(self, inputs: Any) -> Any:
        return [{"width": len(row)} for row in inputs]


@pytest.mark.parametrize("record", [{"a": 1}, {"a": 1, "b": None}], ids=["absent", "null"])
def test_a_missing_required_field_is_a_preprocess_error_naming_the_field(record: dict) -> None:
    backend = Sum(input_format="numpy", feature_names=["a", "b"], required_fields=["b"])
    with pytest.raises(InferenceBackendRuntimeError, match="required field 'b'") as info:
        backend([{"a": 1, "b": 2}, record])
    assert (info.value.step, info.value.record_index) == ("preprocess", 1)
    assert info.value.__cause__.field == "b"


def test_runner_isolates_records_missing_a_required_field_in_a_few_calls() -> None:
    runner = Runner(Sum(input_format="numpy", feature_names=["a"], required_fields=["a"]), max_batch_size=100)
    records = [{"a": i} for i in range(100)]
    records[37] = {"other": 1}
    results = runner.process_batch(records)
    assert [i for i, r in enumerate(results) if is_dead_letter(r)] == [37]
    assert results[37].step == "preprocess" and "'a'" in results[37].message
    assert runner.snapshot().backend_calls == 4


def test_required_fields_work_with_the_records_preprocessor_too() -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    backend = Echo(required_fields=["meta.id"])
    assert backend([{"meta": {"id": 1}, "x": 2}]) == [{"meta": {"id": 1}, "x": 2}]
    with pytest.raises(InferenceBackendRuntimeError, match="required field 'meta.id'") as info:
        backend([{"meta": {"id": 1}}, {"meta": {}}])
    assert info.value.record_index == 1


# -- data quality ------------------------------------------------------------------------------


def test_numpy_data_quality_counts() -> None:
    backend = Width(input_format="numpy", rename_fields={"src.port": "port"}, feature_names=["port", "n"],
                  feature_dtypes={"n": "object"})
    backend([{"src": {"port": 1}, "n": 2, "extra": 0}, {"src": {"port": 2}, "n": 3}])  # clean
    backend([{"src": {"port": None}, "n": "x"}, {"n": 4, "junk": 1, "more": 2}])  # null, missing
    quality = backend.get_data_quality()
    assert quality.records == 4
    assert quality.fields["src.port"].model_dump() == {"present": 2, "missing": 1, "null": 1, "type_mismatch": 0}
    assert quality.fields["n"].model_dump() == {"present": 4, "missing": 0, "null": 0, "type_mismatch": 0}
    assert quality.renamed == 2 and quality.unexpected == 3 and quality.dropped == 3
    assert backend.get_metrics().data_quality == quality
    assert backend.get_metrics().model_dump()["data_quality"]["records"] == 4


def test_type_mismatches_are_counted_once_although_isolation_retries() -> None:
    runner = Runner(Sum(input_format="numpy", feature_names=["a"]), max_batch_size=50)
    records = [{"a": i} for i in range(50)]
    records[10] = {"a": "ten"}
    records[30] = {"a": None}
    results = runner.process_batch(records)
    assert [i for i, r in enumerate(results) if is_dead_letter(r)] == [10]
    quality = runner.backend.get_data_quality()
    assert quality.records == 50
    assert quality.fields["a"].model_dump() == {"present": 49, "missing": 0, "null": 1, "type_mismatch": 1}


def test_records_preprocessor_counts_dropped_nulls_and_unexpected_keys() -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    backend = Echo(feature_names=["a", "b"])
    assert backend([{"a": 1, "b": None, "c": 3}, {"a": 2, "b": 3}]) == [{"a": 1}, {"a": 2, "b": 3}]
    quality = backend.get_data_quality()
    assert quality.fields["b"].null == 1 and quality.fields["a"].present == 2
    assert (quality.unexpected, quality.dropped) == (1, 2)


def test_no_configured_fields_no_data_quality() -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    backend = Echo()
    backend({"a": 1})
    assert backend.get_data_quality() is None and backend.get_metrics().data_quality is None
