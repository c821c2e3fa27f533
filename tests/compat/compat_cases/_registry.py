"""Case registration and the helpers cases share (runs under either packflow)."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

CASES: dict[str, Callable[[], Any]] = {}
META: dict[str, dict[str, Any]] = {}
#: Cases that take JSON arguments, driven by hypothesis in test_fuzz.py.
FUZZ: dict[str, Callable[..., Any]] = {}


@dataclass
class Observed:
    """A case result with a strictly compared ``value`` and a ``text`` checked for key phrases."""

    value: Any
    text: str = ""


def case(*phrases: str, compare: str = "equal", differs: str | None = None) -> Callable:
    """Register a case.

    ``phrases`` must appear in both sides' exception message (or ``Observed.text``);
    ``compare`` is ``equal`` or ``superset`` (ours may hold more); ``differs`` names the
    deliberate difference in docs/migration.md this case demonstrates.
    """

    def register(func: Callable[[], Any]) -> Callable[[], Any]:
        name = func.__name__
        if name in CASES:
            raise ValueError(f"duplicate case {name}")
        CASES[name] = func
        META[name] = {"phrases": list(phrases), "compare": compare, "differs": differs}
        return func

    return register


def fuzz(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register a case that takes JSON arguments."""
    FUZZ[func.__name__] = func
    return func


def write_files(root: str | Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative name -> text) under ``root``; return ``root`` resolved."""
    base = Path(root).resolve()
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


ECHO_BACKEND = """
from packflow import InferenceBackend


class Backend(InferenceBackend):
    def execute(self, inputs):
        return inputs
"""

PROJECT_YAML = """name: {name}
version: 0.1.0
description: A demo
maintainers:
  - a@example.com
inference_backend: {target}
loader: {loader}
python_version: {python}
"""


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def write_project(root: str | Path = "proj", *, name: str = "demo", target: str = "inference:Backend",
                  loader: str = "local", extra_yaml: str = "", files: dict[str, str] | None = None) -> Path:
    """A complete small project (packflow.yaml, requirements.txt, backend, docs) under ``root``."""
    import packflow

    yaml_text = PROJECT_YAML.format(name=name, target=target, loader=loader, python=python_version()) + extra_yaml
    content = {
        "packflow.yaml": yaml_text,
        "requirements.txt": f"packflow=={packflow.__version__}\n",
        "inference.py": ECHO_BACKEND,
        "README.md": "A demo project.\n",
        "MODEL_CARD.md": "Card.\n",
        "LICENSE.txt": "MIT\n",
    }
    content.update(files or {})
    return write_files(root, {k: v for k, v in content.items() if v is not None})


@contextlib.contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Messages packflow logs inside the block (loguru under 0.4.1, logging under ours)."""
    from packflow.logger import get_logger

    logger = get_logger()
    lines: list[str] = []
    if hasattr(logger, "add") and hasattr(logger, "remove"):  # loguru
        sink = logger.add(lambda message: lines.append(str(message).rstrip("\n")), level="DEBUG")
        try:
            yield lines
        finally:
            logger.remove(sink)
        return
    import logging

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = _Collect(level=logging.DEBUG)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def cli(*args: str, input: str | None = None) -> Observed:
    """``packflow ARGS`` through click's test runner: exit code as value, all output as text."""
    from click.testing import CliRunner
    from packflow.cli import cli as group

    result = CliRunner().invoke(group, list(args), input=input, prog_name="packflow")
    return Observed({"exit_code": result.exit_code}, result.output)


def env(**values: str) -> None:
    """Set environment variables for the rest of the case (the runner restores the environment)."""
    os.environ.update(values)
