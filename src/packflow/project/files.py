"""Which files of a project go into its archive: ``.gitignore`` and default exclusions applied."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

from packflow.constants import MANIFEST_NAME
from packflow.logger import get_logger

__all__ = ["EXCLUDED_DIRS", "EXCLUDED_PATTERNS", "RESERVED_ROOT_NAMES", "select_files"]

#: Directory names never exported (at any depth).
EXCLUDED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".hypothesis", ".ipynb_checkpoints", "node_modules", ".idea",
    ".vscode", ".eggs",
})
#: File-name patterns never exported.
EXCLUDED_PATTERNS = ("*.pyc", "*.pyo", "*.egg-info", ".DS_Store")
#: Names at the project root that ``packflow export`` generates itself (``dist/`` is its default output).
RESERVED_ROOT_NAMES = frozenset({MANIFEST_NAME, "wheels", "dist", "packflow-signature.json", "sbom.cdx.json"})
_logger = get_logger("project")


def select_files(root: Path, exclude: set[Path] | frozenset[Path] = frozenset()) -> dict[str, Path]:
    """Archive name (``/``-separated, relative to ``root``) → path of every file to export, sorted."""
    root = root.resolve()
    spec = _gitignore(root)
    skip = {p.resolve() for p in exclude}
    chosen: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        dirnames[:] = sorted(d for d in dirnames if _keep_dir(d, _join(rel_dir, d), spec, here / d))
        for name in filenames:
            rel = _join(rel_dir, name)
            path = here / name
            if _keep_file(rel, spec) and path.resolve() not in skip and _inside(path, root) and not _is_archive(path):
                chosen[rel] = path
    return dict(sorted(chosen.items()))


def _join(rel_dir: str, name: str) -> str:
    return name if rel_dir == "." else f"{rel_dir}/{name}"


def _keep_dir(name: str, rel: str, spec: Any, path: Path) -> bool:
    if name in EXCLUDED_DIRS or name.endswith(".egg-info") or path.is_symlink():
        return False
    if rel in RESERVED_ROOT_NAMES:
        return False
    return spec is None or not spec.match_file(rel + "/")


def _keep_file(rel: str, spec: Any) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if rel in RESERVED_ROOT_NAMES or any(fnmatch.fnmatch(name, p) for p in EXCLUDED_PATTERNS):
        return False
    return spec is None or not spec.match_file(rel)


def _inside(path: Path, root: Path) -> bool:
    if path.is_symlink() and not path.resolve().is_relative_to(root):
        _logger.warning("Not exporting %s: it is a symlink to %s, outside the project.", path, path.resolve())
        return False
    return path.is_file()


def _is_archive(path: Path) -> bool:
    """Whether ``path`` is a packflow archive (a zip holding a manifest): never packed into another."""
    if path.suffix.lower() != ".zip":
        return False
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            found = MANIFEST_NAME in archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    if found:
        _logger.info("Not exporting %s: it is a packflow archive.", path)
    return found


def _gitignore(root: Path) -> Any:
    gitignore = root / ".gitignore"
    if not gitignore.is_file():
        return None
    lines = gitignore.read_text(encoding="utf-8").splitlines()
    try:
        import pathspec
    except ImportError as exc:
        simple = _SimpleIgnore.parse(lines)
        if simple is not None:
            return simple
        raise ImportError(
            f"{gitignore} uses patterns ('!', '**', '[…]') that need the 'pathspec' package to be honoured on "
            "export: pip install 'packflow[export]'"
        ) from exc
    factory = getattr(pathspec, "GitIgnoreSpec", None)
    return factory.from_lines(lines) if factory else pathspec.PathSpec.from_lines("gitwildmatch", lines)


class _SimpleIgnore:
    """The gitignore subset honoured without pathspec: ``name`` globs, ``/anchored`` paths, ``dir/`` only."""

    def __init__(self, patterns: list[tuple[str, bool, bool]]) -> None:
        self.patterns = patterns

    @classmethod
    def parse(cls, lines: list[str]) -> _SimpleIgnore | None:
        patterns = []
        for line in (raw.strip() for raw in lines):
            if not line or line.startswith("#"):
                continue
            if line.startswith("!") or "**" in line or "[" in line or "\\" in line:
                return None
            body = line.rstrip("/")
            patterns.append((body.lstrip("/"), line.endswith("/"), "/" in body))
        return cls(patterns)

    def match_file(self, rel: str) -> bool:
        is_dir, path = rel.endswith("/"), rel.rstrip("/")
        for pattern, dir_only, anchored in self.patterns:
            if dir_only and not is_dir:
                continue
            if fnmatch.fnmatchcase(path if anchored else path.rsplit("/", 1)[-1], pattern):
                return True
        return False
