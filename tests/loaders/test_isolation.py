"""Two projects in one process do not share helper modules."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest

from packflow.loaders import LocalLoader, ModuleLoader
from packflow.loaders.base import InferenceBackendLoader

SOURCE = '''
from packflow import InferenceBackend
from helper import K
from pkg.tools import label


class Backend(InferenceBackend):
    def initialize(self):
        import late_helper  # imported while loading: still this project's
        self.late = late_helper.LATE

    def execute(self, inputs):
        return [{"k": K, "late": self.late, "label": label()} for _ in inputs]
'''


def make_project(root: Path, k: str) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "inference.py").write_text(SOURCE)
    (root / "helper.py").write_text(f"K = {k!r}\n")
    (root / "late_helper.py").write_text(f"LATE = {k!r}\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "tools.py").write_text(f"def label():\n    return {k!r}\n")
    (root / "packflow.yaml").write_text("name: p\ninference_backend: inference:Backend\n")
    return root


@pytest.fixture()
def two(tmp_path: Path) -> tuple[Path, Path]:
    names = ("helper", "late_helper", "pkg", "pkg.tools", "inference")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    yield make_project(tmp_path / "a", "A"), make_project(tmp_path / "b", "B")
    for n in names:
        sys.modules.pop(n, None)
    sys.modules.update(saved)


@pytest.mark.parametrize("how", ["local", "module", "project"])
def test_second_project_gets_its_own_helpers(two: tuple[Path, Path], how: str) -> None:
    def load(root: Path):
        if how == "local":
            return LocalLoader("inference:Backend", base_dir=root).load()
        if how == "module":
            return ModuleLoader("inference:Backend", base_dir=root).load()
        return InferenceBackendLoader.from_project(root)

    a, b = (load(root) for root in two)
    assert a({"x": 1}) == {"k": "A", "late": "A", "label": "A"}
    assert b({"x": 1}) == {"k": "B", "late": "B", "label": "B"}
    assert "helper" not in sys.modules and "pkg.tools" not in sys.modules


def test_a_module_cached_before_loading_is_hidden_then_restored(two: tuple[Path, Path], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "helper.py").write_text("K = 'ELSEWHERE'\n")
    sys.path.insert(0, str(other))
    try:
        import helper  # the application's own module named like the project's
    finally:
        sys.path.remove(str(other))
    backend = LocalLoader("inference:Backend", base_dir=two[0]).load()
    assert backend({"x": 1})["k"] == "A"
    assert sys.modules["helper"] is helper and helper.K == "ELSEWHERE"


def test_the_backend_module_keeps_its_private_name_so_instances_pickle(two: tuple[Path, Path]) -> None:
    loader = LocalLoader("inference:Backend", base_dir=two[0])
    backend = loader.load()
    assert sorted(loader.project_modules) == ["helper", "late_helper", "pkg", "pkg.tools"]
    copy = pickle.loads(pickle.dumps(backend))
    assert copy({"x": 1}) == {"k": "A", "late": "A", "label": "A"}
