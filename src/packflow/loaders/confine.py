"""Keep a project's (or an archive's) ``inference_backend`` target inside its root.

A target is ``module:Name``; ``module`` must be dotted (or ``/``-separated) Python identifiers, and
the file it names must resolve — symlinks followed — inside the root. So ``/tmp/x/evil:Backend``,
``..evil:Backend`` and an ``inference.py`` that is a symlink to a file elsewhere are refused before
anything is imported. For an archive (``strict``) a ``loader: module`` target must be a module the
archive itself holds; a project may name an installed module with ``loader: module``.
"""

from __future__ import annotations

import re
from pathlib import Path

from packflow.exceptions import InferenceBackendLoadError
from packflow.loaders.utils import inference_backend_parts

__all__ = ["check_confined"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z_][A-Za-z0-9_]*)*")


def check_confined(root: Path, target: str, loader: str, *, strict: bool) -> None:
    """Raise ``InferenceBackendLoadError`` unless ``target`` names code inside ``root``."""
    module_name, _ = inference_backend_parts(target)
    if not _MODULE.fullmatch(module_name):
        raise InferenceBackendLoadError(
            f"inference_backend {target!r} must name a module inside the project {str(root)!r} as dotted "
            "identifiers (e.g. 'inference:Backend' or 'pkg.model:Backend'); absolute paths and '..' are refused."
        )
    base = root.resolve()
    relative = module_name.replace(".", "/")
    candidates = [base / f"{relative}.py", base / relative / "__init__.py"]
    existing = [c for c in candidates if c.exists() or c.is_symlink()]
    for path in existing:
        if not path.resolve().is_relative_to(base):
            raise InferenceBackendLoadError(
                f"inference_backend {target!r} resolves to {str(path.resolve())!r}, outside the project "
                f"{str(base)!r} (a symbolic link?); keep the backend's code inside the project."
            )
    if strict and loader == "module" and not existing:
        raise InferenceBackendLoadError(
            f"inference_backend {target!r} (loader: module) is not a module inside the archive; an archive "
            "may only load its own code."
        )
