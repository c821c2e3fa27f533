"""LocalLoader, ModuleLoader, InferenceBackendLoader.from_project and inference_backend_parts."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from packflow import InferenceBackend
from packflow.exceptions import InferenceBackendLoadError
from packflow.loaders import LocalLoader, ModuleLoader
from packflow.loaders.base import InferenceBackendLoader
from packflow.loaders.utils import inference_backend_parts

BACKEND_SOURCE = textwrap.dedent(
    """
    from typing import Any
    from packflow import InferenceBackend
    from helpers import double

    class Backend(InferenceBackend):
        def initialize(self) -> None:
            import lazy_helper  # imported while loading: the project dir is on sys.path then
            self.offset = lazy_helper.OFFSET

        def execute(self, inputs: Any) -> Any:
            return [{"y": double(r["x"]) + self.offset} for r in inputs]

    class Other(Backend):
        pass

    instance = Backend()
    not_a_backend = 42
    """
)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    (root / "lazy_helper.py").write_text("OFFSET = 1\n", encoding="utf-8")
    (root / "inference.py").write_text(BACKEND_SOURCE, encoding="utf-8")
    (root / "pkg" / "deep.py").write_text(BACKEND_SOURCE, encoding="utf-8")
    (root / "packflow.yaml").write_text("name: proj\ninference_backend: inference:Backend\n", encoding="utf-8")
    yield root
    for name in ("helpers", "lazy_helper"):
        sys.modules.pop(name, None)


def test_inference_backend_parts() -> None:
    assert inference_backend_parts("pkg.mod:Name") == ["pkg.mod", "Name"]
    for bad in ("pkg.mod", "a:b:c", ":Name", "mod:"):
        with pytest.raises(ValueError, match="module:ClassName"):
            inference_backend_parts(bad)


def test_local_loader_instantiates_class_with_kwargs_and_cleans_sys_path(project: Path) -> None:
    before = list(sys.path)
    backend = LocalLoader("inference:Backend", base_dir=project).load(verbose=True)
    assert isinstance(backend, InferenceBackend) and backend.config.verbose
    assert backend({"x": 2}) == {"y": 5}
    assert sys.path == before and str(project) not in sys.path


def test_local_loader_dots_are_folders_and_default_base_is_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    backend = LocalLoader("pkg.deep:Other").load()
    assert type(backend).__name__ == "Other"


def test_loader_returns_instance_as_is(project: Path) -> None:
    loader = LocalLoader("inference:instance", base_dir=project)
    backend = loader.load()
    assert backend is loader.module.instance


def test_missing_file_says_where_it_looked(project: Path) -> None:
    with pytest.raises(InferenceBackendLoadError) as info:
        LocalLoader("nothere:Backend", base_dir=project).load()
    assert str(project / "nothere.py") in str(info.value) and "base_dir" in str(info.value)


def test_missing_attribute_lists_the_backends_the_module_defines(project: Path) -> None:
    with pytest.raises(InferenceBackendLoadError) as info:
        LocalLoader("inference:Backnd", base_dir=project).load()
    message = str(info.value)
    assert "'Backnd'" in message and "Backend, Other" in message and "inference.py" in message


def test_non_backend_object_is_a_load_error_naming_what_was_found(project: Path) -> None:
    with pytest.raises(InferenceBackendLoadError) as info:
        LocalLoader("inference:not_a_backend", base_dir=project).load()
    assert "int" in str(info.value) and "Backend, Other" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_abstract_backend_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "abstract.py").write_text(
        "from packflow import InferenceBackend\nclass Half(InferenceBackend):\n    pass\n", encoding="utf-8"
    )
    with pytest.raises(InferenceBackendLoadError, match="abstract.*execute"):
        LocalLoader("abstract:Half", base_dir=tmp_path).load()


def test_import_error_in_module_is_a_load_error_chained(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import no_such_module_xyz\n", encoding="utf-8")
    with pytest.raises(InferenceBackendLoadError) as info:
        LocalLoader("broken:Backend", base_dir=tmp_path).load()
    assert "no_such_module_xyz" in str(info.value) and isinstance(info.value.__cause__, ImportError)


def test_module_loader_imports_installed_modules() -> None:
    with pytest.raises(InferenceBackendLoadError) as info:
        ModuleLoader("packflow.backend.base:Nope").load()
    assert "'Nope'" in str(info.value) and "packflow.backend.base" in str(info.value)
    with pytest.raises(InferenceBackendLoadError) as info:
        ModuleLoader("no_such_pkg_xyz.mod:Backend").load()
    assert "'no_such_pkg_xyz'" in str(info.value) and "LocalLoader" in str(info.value)
    with pytest.raises(InferenceBackendLoadError, match="abstract"):
        ModuleLoader("packflow.backend.base:InferenceBackend").load()


def test_module_loader_with_base_dir_leaves_sys_path_clean(project: Path) -> None:
    before = list(sys.path)
    backend = ModuleLoader("inference:Backend", base_dir=project).load()
    assert backend({"x": 1}) == {"y": 3}
    assert sys.path == before
    sys.modules.pop("inference", None)


def test_from_project_loads_and_does_not_leave_project_on_sys_path(project: Path) -> None:
    before = list(sys.path)
    backend = InferenceBackendLoader.from_project(project, feature_names=["x"])
    assert backend([{"x": 1, "junk": 0}]) == [{"y": 3}]
    assert sys.path == before


def test_repr() -> None:
    assert repr(ModuleLoader("a:B")) == "ModuleLoader('a:B')"
