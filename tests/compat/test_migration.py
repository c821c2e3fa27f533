"""One test per deliberate difference in docs/migration.md: what ours does now, and that 0.4.1 did otherwise."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from compat_cases import META

MIGRATION = Path(__file__).resolve().parents[2] / "docs" / "migration.md"
VALIDATION_ERROR = "pydantic_core._pydantic_core.ValidationError"


def _raised(outcome: dict, type_name: str | None = None) -> dict:
    assert outcome["outcome"] == "raised", outcome
    exc = outcome["exception"]
    if type_name is not None:
        assert type_name in exc["mro"], exc
    return exc


def _value(outcome: dict):
    assert outcome["outcome"] == "value", outcome
    return outcome["value"]


def _both(released, ours, name: str) -> tuple[dict, dict]:
    return released.run(name), ours.run(name)


def test_every_difference_is_documented_and_tested() -> None:
    documented = set(re.findall(r"^### `([a-z0-9-]+)`", MIGRATION.read_text(), flags=re.M))
    used = {m["differs"] for m in META.values() if m["differs"]}
    tested = {name[len("test_"):].replace("_", "-") for name in dir(sys.modules[__name__])
              if name.startswith("test_") and name != "test_every_difference_is_documented_and_tested"}
    assert used == documented, f"documented but no case: {sorted(documented - used)}; " \
                               f"case but undocumented: {sorted(used - documented)}"
    assert documented == tested, f"without a test: {sorted(documented - tested)}; " \
                                 f"test without a documented difference: {sorted(tested - documented)}"


def test_pydantic_errors(released, ours) -> None:
    fields = {"bad_kwarg_type": "verbose", "bad_input_format": "input_format",
              "load_configuration_bad_value": "feature_names", "create_invalid_name": "name",
              "from_project_invalid_yaml_key": "unexpected_key", "from_project_path_unknown_key": "surprise"}
    for name, field in fields.items():
        old, new = _both(released, ours, name)
        assert _raised(old, VALIDATION_ERROR)["type"] == VALIDATION_ERROR
        exc = _raised(new, "ValueError")
        assert exc["type"] in ("packflow.exceptions.ConfigurationError", "packflow.exceptions.ProjectInvalidError")
        assert field in exc["message"] and "\n" not in exc["message"], exc


def test_yaml_errors(released, ours) -> None:
    old, new = _both(released, ours, "from_project_path_invalid_yaml_syntax")
    assert _raised(old, "yaml.error.YAMLError")["type"] == "yaml.parser.ParserError"
    exc = _raised(new, "yaml.error.YAMLError")
    assert "ValueError" in exc["mro"] and "packflow.yaml is not valid YAML" in exc["message"]


def test_metrics_before_call(released, ours) -> None:
    old, new = _both(released, ours, "metrics_before_any_call")
    assert "batch_size" in _raised(old, VALIDATION_ERROR)["message"]
    assert "has not been called yet" in _raised(new, "packflow.exceptions.InferenceBackendRuntimeError")["message"]


def test_execution_times_none(released, ours) -> None:
    old, new = _both(released, ours, "execution_times_total_explicit_none")
    _raised(old, "TypeError")
    assert _value(new) == 3.0


def test_check_io_empty(released, ours) -> None:
    old, new = _both(released, ours, "check_io_empty_list")
    assert _value(old) == []
    assert "empty list" in _raised(new, "packflow.exceptions.InferenceBackendValidationError")["message"]


def test_check_io_not_list(released, ours) -> None:
    old, new = _both(released, ours, "check_io_output_not_list")
    old_exc = _raised(old, "packflow.exceptions.InferenceBackendRuntimeError")
    assert "packflow.exceptions.InferenceBackendValidationError" not in old_exc["mro"]
    assert "list of records" in _raised(new, "packflow.exceptions.InferenceBackendValidationError")["message"]


def test_output_keys_strict(released, ours) -> None:
    old, new = _both(released, ours, "check_io_missing_output_keys")
    assert _value(old) == {"outputs": [{"a": 1}], "warned": True}
    assert "score" in _raised(new, "packflow.exceptions.InferenceBackendValidationError")["message"]


def test_check_io_json_rule(released, ours) -> None:
    old, new = _both(released, ours, "check_io_numpy_scalar_output")
    assert "float32" in _raised(old, "packflow.exceptions.InferenceBackendValidationError")["message"]
    assert _value(new) == [{"p": {"__scalar__": 0.5, "dtype": "float32", "shape": []}}]
    old, new = _both(released, ours, "check_io_set_output")
    assert "set" in _raised(old, "packflow.exceptions.InferenceBackendValidationError")["message"]
    assert _value(new) == [{"s": [1, 2]}]


def test_output_contract(released, ours) -> None:
    expected = {"call_dict_two_outputs": ({"a": 1}, "exactly one"), "call_dict_output_not_dict": (1, "must be a dict"),
                "call_list_output_too_short": ([{"a": 1}], "1 outputs for 2 input records"),
                "list_in_outputs_not_dicts": ([1, 2], "must be a dict")}
    for name, (old_value, phrase) in expected.items():
        old, new = _both(released, ours, name)
        assert _value(old) == old_value
        assert phrase in _raised(new, "packflow.exceptions.InferenceBackendRuntimeError")["message"], new


def test_non_dict_records(released, ours) -> None:
    old, new = _both(released, ours, "call_list_of_non_dicts")
    assert _value(old) == [1, "two"]
    assert "record 0 is a int" in _raised(new, "packflow.exceptions.InferenceBackendRuntimeError")["message"]


def test_init_wrapped(released, ours) -> None:
    old, new = _both(released, ours, "local_backend_init_raises")
    assert _raised(old, "ValueError")["message"] == "bad init"
    exc = _raised(new, "packflow.exceptions.InferenceBackendInitializationError")
    assert "ValueError: bad init" in exc["message"] and "model_w:Backend" in exc["message"]


def test_numpy_dtype(released, ours) -> None:
    for name, old_dtype in (("numpy_ints", "int64"), ("numpy_bools", "bool"), ("numpy_nested_and_renamed", "int64")):
        old, new = _both(released, ours, name)
        assert _value(old)["dtype"] == old_dtype and _value(new)["dtype"] == "float64"
    old, new = _both(released, ours, "numpy_strings")
    assert _value(old)["dtype"] == "<U21"
    assert "does not fit" in _raised(new, "packflow.exceptions.InferenceBackendRuntimeError")["message"]
    old, new = _both(released, ours, "numpy_empty_batch")
    assert _value(old)["shape"] == [0] and _value(new)["shape"] == [0, 2]


def test_export_default_dir(released, ours) -> None:
    old, new = _both(released, ours, "export_archive_name")
    assert _value(old) == ["exported_model-0.1.0.zip", "."]
    assert _value(new) == ["exported_model-0.1.0.zip", "p/dist"]


def test_override_file(released, ours) -> None:
    old, new = _both(released, ours, "override_file_is_read")
    assert _value(old) is False and _value(new) is True
    old, new = _both(released, ours, "override_file_missing")
    assert _value(old) is False
    assert "BACKEND_CONFIG_FILE_PATH" in _raised(new, "packflow.exceptions.ConfigurationError")["message"]


def test_empty_delimiter(released, ours) -> None:
    old, new = _both(released, ours, "empty_delimiter")
    assert _value(old) == ""
    assert "non-empty" in _raised(new, "ValueError")["message"]


def test_empty_yaml(released, ours) -> None:
    old, new = _both(released, ours, "from_project_path_empty_file")
    _raised(old, "TypeError")
    assert "mapping" in _raised(new, "packflow.exceptions.ProjectInvalidError")["message"]


def test_target_parts(released, ours) -> None:
    old, new = _both(released, ours, "parts_empty_module")
    assert _value(old) == ["", "Backend"]
    assert "module:ClassName" in _raised(new, "ValueError")["message"]
    old, new = _both(released, ours, "parts_spaces")
    assert _value(old) == ["inference", " Backend"] and _value(new) == ["inference", "Backend"]
    old, new = _both(released, ours, "parts_not_a_string")
    _raised(old, "AttributeError")
    assert "42" in _raised(new, "ValueError")["message"]


def test_deep_merge(released, ours) -> None:
    old, new = _both(released, ours, "from_project_kwargs_dict_merge")
    assert _value(old) == {"b": "y"} and _value(new) == {"a": "x", "b": "y"}


def test_export_output_dir(released, ours) -> None:
    old, new = _both(released, ours, "export_missing_output_directory")
    assert "No such file or directory" in _raised(old, "Exception")["message"]
    assert _value(new) == "no/such/dir/nodir_model-0.1.0.zip"


def test_source_module_name(released, ours) -> None:
    old, new = _both(released, ours, "import_module_from_source_registers_stem")
    assert _value(old) == ["plain_p", True]
    name, registered_as_stem = _value(new)
    assert name.startswith("packflow_local_") and name.endswith("_plain_p") and not registered_as_stem


def test_sys_path(released, ours) -> None:
    old, new = _both(released, ours, "from_project_leaves_sys_path")
    assert _value(old) is True and _value(new) is False


def test_sibling_imports(released, ours) -> None:
    old, new = _both(released, ours, "local_sibling_import")
    assert "helper_n" in _raised(old, "packflow.exceptions.InferenceBackendLoadError")["message"]
    assert _value(new) == {"k": 7}


def test_numpy_missing(released, ours) -> None:
    for name in ("numpy_missing_value", "ndarray_missing_values"):
        old, new = _both(released, ours, name)
        assert _value(old)["dtype"] == "object" and None in _value(old)["__ndarray__"][-1]
        assert _value(new)["dtype"] == "float64" and "nan" in _value(new)["__ndarray__"][-1]


def test_non_string_keys(released, ours) -> None:
    old, new = _both(released, ours, "collisions_int_keys")
    _raised(old, "TypeError")
    assert _value(new) == ["a.b"]


def test_flatten_collision_lookup(released, ours) -> None:
    old, new = _both(released, ours, "get_nested_field_colliding_record")
    assert "duplicated key" in _raised(old, "ValueError")["message"]
    assert _value(new) == 5


def test_normalize_new_types(released, ours) -> None:
    for name, converted in (("native_pandas_timestamp", "2024-01-02T03:04:05"), ("native_bytes", {"b": "AAE="}),
                            ("native_decimal", 1.5)):
        old, new = _both(released, ours, name)
        _raised(old, "TypeError")
        assert _value(new) == converted
    old, new = _both(released, ours, "native_numpy_types_exact")
    assert _value(old) == ["int", "float64", "list"] and _value(new) == ["int", "float", "list"]


def test_handler_lazy_module(released, ours) -> None:
    old, new = _both(released, ours, "custom_handler_unimported_library")
    assert _value(old) == [True, True] and _value(new) == [True, False]


def test_stdlib_logging(released, ours) -> None:
    old, new = _both(released, ours, "logger_kind")
    assert _value(old).startswith("loguru") and _value(new) == "logging"


def test_template_files(released, ours) -> None:
    old, new = _both(released, ours, "create_template_files")
    assert "tests.py" in _value(old) and "sample_inputs.jsonl" not in _value(old)
    assert {"test_inference.py", "sample_inputs.jsonl"} <= set(_value(new)) and "tests.py" not in _value(new)
    old, new = _both(released, ours, "created_project_loads_and_runs")
    assert _value(old) == {"example_field": "example_value"} and "word_count" in _value(new)


def test_export_manifest(released, ours) -> None:
    old, new = _both(released, ours, "export_contents")
    assert sorted(_value(old) + ["packflow-manifest.json"]) == _value(new)


def test_create_without_name(released, ours) -> None:
    old, new = _both(released, ours, "create_command_without_name")
    assert _value(old) == {"exit_code": 1} and _value(new) == {"exit_code": 2}
    assert "Project name is required" in old["text"] and "Project name is required" in new["text"]


def test_roll(released, ours) -> None:
    old, new = _both(released, ours, "roll_command")
    assert _value(old) == {"exit_code": 0} and _value(new) == {"exit_code": 2}
