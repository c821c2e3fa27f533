"""A project made by packflow 0.4.1's ``packflow create`` works under ours: validate, load, its own tests, export.

0.4.1's sdist ships no test suite; the only tests it ships are the ``tests.py`` of its project
template, which these tests run, under our package, in a project 0.4.1 created.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

TIMEOUT_S = 120


def _env(pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BACKEND_CONFIG_FILE_PATH")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


@pytest.fixture(scope="module")
def ours_src() -> str:
    import packflow

    return str(Path(packflow.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def legacy_project(released_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``packflow create legacy-model --no-input`` run by the released 0.4.1 CLI."""
    parent = tmp_path_factory.mktemp("legacy")
    done = subprocess.run([str(released_python.parent / "packflow"), "create", "legacy-model", "--no-input"],
                          cwd=parent, env=_env(None), capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return parent / "legacy-model"


def _ours(args: list[str], cwd: Path, src: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**_env(src), **extra_env}, capture_output=True,
                          text=True, timeout=TIMEOUT_S)


def test_the_release_pins_itself_in_requirements(legacy_project: Path) -> None:
    assert (legacy_project / "requirements.txt").read_text().strip() == "packflow==0.4.1"
    assert (legacy_project / "tests.py").is_file()


def test_ours_validates_a_released_project(legacy_project: Path, ours_src: str) -> None:
    done = _ours(["-m", "packflow.cli", "validate", "."], legacy_project, ours_src)
    assert done.returncode == 0, done.stdout + done.stderr
    # 0.4.1 pinned itself: ours warns that the installed version differs, and passes.
    assert "Validation passed with warnings" in done.stdout and "0.4.1" in done.stdout


def test_the_released_template_tests_pass_under_ours(legacy_project: Path, ours_src: str) -> None:
    done = _ours(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests.py"], legacy_project, ours_src,
                 PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0, done.stdout + done.stderr
    passed = re.search(r"(\d+) passed", done.stdout)
    assert passed and int(passed.group(1)) == 2, done.stdout


def test_ours_loads_and_runs_a_released_project(legacy_project: Path, ours_src: str) -> None:
    code = ("from packflow.loaders import LocalLoader; b = LocalLoader.from_project('.');"
            "print(b({'example_field': 'x'}), b.check_io([{'example_field': 'y'}]))")
    done = _ours(["-c", code], legacy_project, ours_src)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'example_field': 'x'} [{'example_field': 'y'}]"


def test_ours_exports_a_released_project(legacy_project: Path, ours_src: str, tmp_path: Path) -> None:
    done = _ours(["-m", "packflow.cli", "export", str(legacy_project), "-o", str(tmp_path)], legacy_project, ours_src)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Saved Package to" in done.stdout
    with zipfile.ZipFile(tmp_path / "legacy_model-0.1.0.zip") as archive:
        names = set(archive.namelist())
    assert {"inference.py", "packflow.yaml", "requirements.txt", "tests.py", "packflow-manifest.json"} <= names


def test_the_migration_guide_example_runs(ours_src: str, tmp_path: Path) -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "migration.md").read_text()
    example = re.search(r"```python\n(.*?)```", guide, re.S).group(1)  # type: ignore[union-attr]
    done = _ours(["-c", example], tmp_path, ours_src)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'n': 2}"
