"""The public surface: every module, class and function name 0.4.1 shipped, and its kind."""

from __future__ import annotations

import importlib
import inspect

from compat_cases._registry import case

#: module -> public names it defined in 0.4.1 (from the 0.4.1 wheel).
SURFACE = {
    "packflow": ["BackendConfig", "InferenceBackend", "PackflowProject", "__version__"],
    "packflow.constants": ["PACKAGING_CONFIG_NAME", "REQUIREMENTS_TEXT_NAME"],
    "packflow.exceptions": [
        "InferenceBackendInitializationError", "InferenceBackendLoadError", "InferenceBackendRuntimeError",
        "InferenceBackendValidationError", "PreprocessorInitError", "PreprocessorRuntimeError",
        "UnknownPreprocessorError",
    ],
    "packflow.logger": ["get_logger"],
    "packflow.backend": ["BackendConfig", "InferenceBackend"],
    "packflow.backend.base": ["InferenceBackend"],
    "packflow.backend.configuration": ["BackendConfig", "InputFormats", "load_backend_configuration"],
    "packflow.backend.metrics": ["ExecutionMetrics", "ExecutionTimes"],
    "packflow.backend.preprocessors": [
        "NumpyPreprocessor", "PassthroughPreprocessor", "Preprocessor", "RecordsPreprocessor", "get_preprocessor",
    ],
    "packflow.backend.validation": [
        "InferenceBackendValidator", "_check_output_keys", "_input_is_correct_format",
        "_inputs_and_outputs_match_len", "_output_is_json_serializable", "_output_is_list_of_dicts",
    ],
    "packflow.loaders": ["InferenceBackendLoader", "LocalLoader", "ModuleLoader", "PackflowConfig"],
    "packflow.loaders.base": ["InferenceBackendLoader"],
    "packflow.loaders.config": [
        "InferenceBackendStr", "METADATA_KEYS", "NAME_PATTERN", "NameStr", "RUNTIME_CONFIG_KEYS", "PackflowConfig",
        "apply_env_vars",
        "check_python_version", "get_python_version", "load_packflow_config", "normalize_archive_name",
        "validate_for_export",
    ],
    "packflow.loaders.local": ["LocalLoader"],
    "packflow.loaders.module": ["ModuleLoader"],
    "packflow.loaders.utils": ["inference_backend_parts"],
    "packflow.project": ["PackflowProject"],
    "packflow.utils": [
        "check_delimiter_collisions", "ensure_native_types", "ensure_valid_output", "flatten_dict",
        "flatten_records", "get_nested_field", "get_nested_field_direct", "records_to_ndarray",
        "set_nested_field_direct",
    ],
    "packflow.utils.data": [
        "check_delimiter_collisions", "flatten_dict", "flatten_records", "get_nested_field",
        "get_nested_field_direct", "records_to_ndarray", "set_nested_field_direct",
    ],
    "packflow.utils.normalize": ["ensure_native_types", "ensure_valid_output"],
    "packflow.utils.normalize.base": ["TypeConversionHandler"],
    "packflow.utils.normalize.handlers": [
        "NumpyTypeHandler", "PandasDataFrameHandler", "PandasSeriesHandler", "PillowImageHandler",
        "TorchScalarHandler", "TorchTensorHandler",
    ],
    "packflow.utils.normalize.normalize": ["ensure_native_types", "ensure_valid_output"],
    "packflow.cli": ["cli"],
}

#: class -> methods and attributes 0.4.1 code (its subclasses and tests) used.
MEMBERS = {
    ("packflow.backend.base", "InferenceBackend"): [
        "__call__", "_execute_and_profile_step", "_initialize", "_preprocess", "backend_config_model",
        "check_io", "execute", "get_metrics", "initialize", "ready", "validate",
    ],
    ("packflow.backend.preprocessors", "Preprocessor"): ["__call__", "process", "resolve"],
    ("packflow.backend.preprocessors", "RecordsPreprocessor"): [
        "_check_for_delimiter_collisions", "_uses_nested_paths", "process", "resolve",
    ],
    ("packflow.backend.validation", "InferenceBackendValidator"): ["run"],
    ("packflow.backend.metrics", "ExecutionTimes"): ["total"],
    ("packflow.loaders.base", "InferenceBackendLoader"): ["from_project", "load", "load_backend_module"],
    ("packflow.loaders.local", "LocalLoader"): [
        "_dot_notation_to_pypath", "_import_module_from_source", "load_backend_module",
    ],
    ("packflow.loaders.module", "ModuleLoader"): ["load_backend_module"],
    ("packflow.loaders.config", "PackflowConfig"): [
        "archive_file_name", "from_project_path", "write_requirements", "write_yaml",
    ],
    ("packflow.project", "PackflowProject"): [
        "REQUIRED_FILES", "RECOMMENDED_FILES", "create", "export", "has_packflow_config", "load_config",
        "validate_required_files",
    ],
    ("packflow.utils.normalize.base", "TypeConversionHandler"): [
        "_import_module", "available", "convert", "is_type", "package_name",
    ],
}


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.ismodule(obj):
        return "module"
    if callable(obj):
        return "function"
    return type(obj).__name__


def _surface_case(module_name: str, names: list[str]) -> None:
    def observe() -> dict:
        module = importlib.import_module(module_name)
        return {name: _kind(getattr(module, name)) if hasattr(module, name) else "MISSING" for name in names}

    observe.__name__ = "names_" + module_name.replace(".", "_")
    case()(observe)


def _members_case(module_name: str, cls_name: str, members: list[str]) -> None:
    def observe() -> dict:
        cls = getattr(importlib.import_module(module_name), cls_name)
        return {m: hasattr(cls, m) for m in members}

    observe.__name__ = f"members_{cls_name}"
    case()(observe)


for _module, _names in SURFACE.items():
    _surface_case(_module, _names)
for (_module, _cls), _members in MEMBERS.items():
    _members_case(_module, _cls, _members)


@case()
def constants_values() -> dict:
    import packflow.constants as c

    return {"config": c.PACKAGING_CONFIG_NAME, "requirements": c.REQUIREMENTS_TEXT_NAME}


@case()
def exceptions_are_exceptions() -> dict:
    import packflow.exceptions as e

    names = SURFACE["packflow.exceptions"]
    return {n: [issubclass(getattr(e, n), Exception), str(getattr(e, n)("boom"))] for n in names}


@case()
def version_is_text() -> str:
    import packflow

    return type(packflow.__version__).__name__


@case()
def logger_methods() -> dict:
    from packflow.logger import get_logger

    logger = get_logger()
    return {m: callable(getattr(logger, m, None)) for m in ("debug", "info", "warning", "error", "exception")}


@case()
def input_formats_values() -> list:
    from packflow.backend.configuration import InputFormats

    return sorted((f.name, f.value) for f in InputFormats)


@case()
def metadata_and_runtime_keys() -> dict:
    from packflow.loaders import config

    return {"metadata": config.METADATA_KEYS, "runtime": config.RUNTIME_CONFIG_KEYS, "pattern": config.NAME_PATTERN}


@case(differs="stdlib-logging")
def logger_kind():
    from packflow.logger import get_logger

    return type(get_logger()).__module__
