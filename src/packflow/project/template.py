"""Create a project from a bundled template, removing only what was created if anything fails."""

from __future__ import annotations

import importlib.resources
import os
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from packflow._version import __version__
from packflow.constants import PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME
from packflow.exceptions import ProjectExistsError, ProjectInvalidError, ProjectNotFoundError
from packflow.loaders.config import PackflowConfig, get_python_version, normalize_archive_name

__all__ = ["MANDATORY_FILES", "create_project", "template_dir"]

MANDATORY_FILES = frozenset({"inference.py", PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME})
_RENDERED = {"README.md"}


def template_dir(template: str) -> Traversable:
    """The bundled template called ``template``."""
    path = importlib.resources.files("packflow").joinpath("data").joinpath("templates").joinpath(template)
    if not path.is_dir():
        raise ProjectNotFoundError(f"Unknown project template {template!r}; the bundled template is 'minimal'.")
    return path


def build_config(name: str, template: Traversable, config_data: dict[str, Any] | None) -> PackflowConfig:
    """The template's packflow.yaml values, with this interpreter's Python, the name and ``config_data``."""
    defaults = yaml.safe_load(template.joinpath(PACKAGING_CONFIG_NAME).read_text(encoding="utf-8")) or {}
    values = {**defaults, "python_version": get_python_version(), **(config_data or {}), "name": name}
    return PackflowConfig.from_dict(values, source="project settings")


def create_project(
    name: str, parent: Path, *, force: bool = False, template: str = "minimal",
    config_data: dict[str, Any] | None = None, optional_files: list[str] | None = None,
) -> Path:
    """Write a new project ``parent/name`` and return its path."""
    source = template_dir(template)
    config = build_config(name, source, config_data)
    base = (parent / config.name).resolve()
    if base.exists() and not force:
        raise ProjectExistsError(
            f"{str(base)!r} already exists; choose another name or pass --force to write the template into it "
            "(files with template names are overwritten, nothing is deleted)."
        )
    if base.exists() and not base.is_dir():
        raise ProjectExistsError(f"{str(base)!r} exists and is not a directory.")
    changes = _Changes()
    try:
        for directory in [*reversed(base.parents), base]:
            changes.mkdir(directory)
        wanted = None if optional_files is None else MANDATORY_FILES | set(optional_files)
        _copy_tree(source, base, config, changes, wanted)
        changes.write(base / PACKAGING_CONFIG_NAME, config.to_yaml().encode("utf-8"))
        changes.write(base / REQUIREMENTS_TEXT_NAME, _requirements(source))
    except BaseException:
        changes.undo()
        raise
    return base


def _copy_tree(source: Traversable, dest: Path, config: PackflowConfig, changes: _Changes, wanted: set[str] | frozenset[str] | None) -> None:
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if item.name in {PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME, "__pycache__"}:
            continue
        if wanted is not None and item.name not in wanted:
            continue
        if item.is_dir():
            changes.mkdir(dest / item.name)
            _copy_tree(item, dest / item.name, config, changes, None)
            continue
        data = item.read_bytes()
        if item.name in _RENDERED:
            data = _render(data.decode("utf-8"), config).encode("utf-8")
        changes.write(dest / item.name, data)


def _render(text: str, config: PackflowConfig) -> str:
    values = {"name": config.name, "description": config.description or "", "archive": normalize_archive_name(config.name)}
    for key, value in values.items():
        text = text.replace("{{ " + key + " }}", value)
    return text


def _requirements(source: Traversable) -> bytes:
    extra = source.joinpath(REQUIREMENTS_TEXT_NAME)
    rest = extra.read_text(encoding="utf-8") if extra.is_file() else ""
    return (f"packflow=={__version__}\n" + rest).encode("utf-8")


class _Changes:
    """What create did, so a failure can undo exactly that: new paths removed, overwritten files restored."""

    def __init__(self) -> None:
        self.created: list[Path] = []
        self.backups: dict[Path, bytes] = {}

    def mkdir(self, path: Path) -> None:
        if not path.is_dir():
            path.mkdir(parents=False)
            os.chmod(path, 0o755)
            self.created.append(path)

    def write(self, path: Path, data: bytes) -> None:
        if path.is_file():
            self.backups.setdefault(path, path.read_bytes())
        elif path not in self.created:
            self.created.append(path)
        path.write_bytes(data)
        os.chmod(path, 0o644)

    def undo(self) -> None:
        for path, data in self.backups.items():
            path.write_bytes(data)
        for path in reversed(self.created):
            if path.is_dir():
                path.rmdir() if not any(path.iterdir()) else None
            else:
                path.unlink(missing_ok=True)
