"""Meta tests: a light `import packflow`, curated sorted `__all__`s, and 0.4 import paths."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

HEAVY = ["pandas", "torch", "PIL", "orjson", "starlette", "uvicorn", "redis", "ray", "pyspark", "pyarrow", "httpx", "loguru"]

PUBLIC_MODULES = [
    "packflow",
    "packflow.backend",
    "packflow.backend.base",
    "packflow.backend.configuration",
    "packflow.backend.formats",
    "packflow.backend.metrics",
    "packflow.backend.preprocessors",
    "packflow.backend.rolling",
    "packflow.backend.validation",
    "packflow.exceptions",
    "packflow.loaders",
    "packflow.loaders.base",
    "packflow.loaders.local",
    "packflow.loaders.module",
    "packflow.loaders.target",
    "packflow.loaders.utils",
    "packflow.logger",
    "packflow.testing",
    "packflow.utils",
    "packflow.utils.data",
    "packflow.utils.normalize",
    "packflow.utils.normalize.base",
    "packflow.utils.normalize.handlers",
    "packflow.utils.normalize.normalize",
]

#: Names users of packflow 0.4.1 import, module by module.
COMPAT_04 = {
    "packflow": ["BackendConfig", "InferenceBackend", "__version__"],
    "packflow.backend": ["BackendConfig", "InferenceBackend"],
    "packflow.backend.base": ["InferenceBackend"],
    "packflow.backend.configuration": ["BackendConfig", "InputFormats", "load_backend_configuration"],
    "packflow.backend.metrics": ["ExecutionMetrics", "ExecutionTimes"],
    "packflow.backend.preprocessors": [
        "NumpyPreprocessor",
        "PassthroughPreprocessor",
        "Preprocessor",
        "RecordsPreprocessor",
        "get_preprocessor",
    ],
    "packflow.backend.validation": ["InferenceBackendValidator"],
    "packflow.constants": ["PACKAGING_CONFIG_NAME", "REQUIREMENTS_TEXT_NAME"],
    "packflow.exceptions": [
        "InferenceBackendInitializationError",
        "InferenceBackendLoadError",
        "InferenceBackendRuntimeError",
        "InferenceBackendValidationError",
        "PreprocessorInitError",
        "PreprocessorRuntimeError",
        "UnknownPreprocessorError",
    ],
    "packflow.loaders": ["InferenceBackendLoader", "LocalLoader", "ModuleLoader", "PackflowConfig"],
    "packflow.loaders.base": ["InferenceBackendLoader"],
    "packflow.loaders.local": ["LocalLoader"],
    "packflow.loaders.module": ["ModuleLoader"],
    "packflow.loaders.utils": ["inference_backend_parts"],
    "packflow.logger": ["get_logger"],
    "packflow.utils": [
        "check_delimiter_collisions",
        "ensure_native_types",
        "ensure_valid_output",
        "flatten_dict",
        "flatten_records",
        "get_nested_field",
        "get_nested_field_direct",
        "records_to_ndarray",
        "set_nested_field_direct",
    ],
    "packflow.utils.data": [
        "check_delimiter_collisions",
        "flatten_dict",
        "flatten_records",
        "get_nested_field",
        "get_nested_field_direct",
        "records_to_ndarray",
        "set_nested_field_direct",
    ],
    "packflow.utils.normalize": ["ensure_native_types", "ensure_valid_output"],
    "packflow.utils.normalize.base": ["TypeConversionHandler"],
    "packflow.utils.normalize.handlers": [
        "NumpyTypeHandler",
        "PandasDataFrameHandler",
        "PandasSeriesHandler",
        "PillowImageHandler",
        "TorchScalarHandler",
        "TorchTensorHandler",
    ],
}


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=True,
    )
    return result.stdout


def test_import_packflow_loads_no_heavy_library_and_touches_no_logging() -> None:
    code = (
        "import json, logging, sys\n"
        "root_handlers = list(logging.getLogger().handlers)\n"
        "import packflow\n"
        "from packflow import InferenceBackend, BackendConfig\n"
        "import packflow.testing, packflow.loaders, packflow.utils\n"
        "print(json.dumps({'modules': sorted(sys.modules),"
        " 'root_same': logging.getLogger().handlers == root_handlers,"
        " 'root_level': logging.getLogger().level,"
        " 'pf_handlers': len(logging.getLogger('packflow').handlers)}))\n"
    )
    report = json.loads(_run(code))
    loaded = {m.split(".")[0] for m in report["modules"]}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert report["root_same"] and report["root_level"] == 30 and report["pf_handlers"] == 0


def test_importing_packflow_does_not_import_numpy_until_needed() -> None:
    code = "import sys\nfrom packflow import InferenceBackend\nprint('numpy' in sys.modules)"
    assert _run(code).strip() == "False"


def test_import_packflow_is_lazy_but_exposes_every_public_name() -> None:
    code = (
        "import sys, packflow\n"
        "light = 'pydantic' not in sys.modules\n"
        "ok = packflow.InferenceBackend.__name__ == 'InferenceBackend' and packflow.backend.preprocessors is not None\n"
        "print(light, ok, 'BackendConfig' in dir(packflow))"
    )
    assert _run(code).split() == ["True", "True", "True"]


def test_defining_a_backend_does_not_import_pydantic_until_constructed() -> None:
    code = (
        "import sys\n"
        "from packflow import InferenceBackend\n"
        "class B(InferenceBackend):\n"
        "    def execute(self, inputs):\n"
        "        return inputs\n"
        "before = 'pydantic' in sys.modules\n"
        "assert B.backend_config_model.__name__ == 'BackendConfig'\n"
        "print(before, B()({'a': 1}) == {'a': 1}, 'pydantic' in sys.modules)"
    )
    assert _run(code).split() == ["False", "True", "True"]


def test_packflow_log_level_sets_the_packflow_logger_level() -> None:
    code = "import logging\nfrom packflow import InferenceBackend\nprint(logging.getLogger('packflow').level, logging.getLogger().level)"
    assert _run(code, PACKFLOW_LOG_LEVEL="debug").split() == ["10", "30"]
    assert _run(code, PACKFLOW_LOG_LEVEL="").split() == ["0", "30"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert list(exported) == sorted(exported)
    assert len(set(exported)) == len(exported)
    missing = [n for n in exported if n != "PackflowProject" and not hasattr(module, n)]
    assert not missing


@pytest.mark.parametrize("package", ["packflow.backend", "packflow.utils", "packflow.utils.normalize", "packflow.loaders", "packflow"])
def test_package_all_matches_its_public_reexports(package: str) -> None:
    module = importlib.import_module(package)
    import __future__

    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and not isinstance(v, (type(sys), __future__._Feature))
    }
    assert public <= set(module.__all__), sorted(public - set(module.__all__))


@pytest.mark.parametrize("module_name", sorted(COMPAT_04))
def test_packflow_04_import_paths_still_work(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [n for n in COMPAT_04[module_name] if not hasattr(module, n)]
    assert not missing


def test_exceptions_share_one_base_and_keep_builtin_bases() -> None:
    from packflow import exceptions

    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.PackflowError)
    assert issubclass(exceptions.InferenceBackendLoadError, ImportError)
    assert issubclass(exceptions.ConfigurationError, ValueError)


def test_version_is_a_string() -> None:
    import packflow

    assert isinstance(packflow.__version__, str) and packflow.__version__[0].isdigit()


DOC_PAGES = ["backends", "configuration", "preprocessors", "metrics", "loaders", "testing"]


@pytest.mark.parametrize("page", DOC_PAGES)
def test_doc_page_examples_run(page: str, tmp_path: object) -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / f"{page}.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, f"docs/{page}.md has no runnable example"
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
        assert done.returncode == 0, f"docs/{page}.md example failed:\n{block}\n{done.stderr}"
