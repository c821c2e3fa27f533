"""Read ``requirements.txt`` and compare it with the running environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

__all__ = ["Requirement", "canonical_name", "installed_problem", "parse_requirements"]

_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)(;.*)?$")


@dataclass(frozen=True)
class Requirement:
    """A named requirement line: ``name``, its version ``specifier`` (may be empty) and the raw ``line``."""

    name: str
    specifier: str
    line: str


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str) -> list[Requirement]:
    """Named requirements; comments, blank lines, options (``-r``, ``--index-url``) and URLs are skipped."""
    found = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")) or "://" in line or " @ " in line:
            continue
        match = _LINE.match(line)
        if match:
            found.append(Requirement(match.group(1), match.group(3).strip(), line))
    return found


def installed_problem(req: Requirement) -> str | None:
    """A warning when ``req`` is not installed here or its installed version does not satisfy it."""
    try:
        installed = version(req.name)
    except PackageNotFoundError:
        return f"requirement {req.line!r} is not installed in this environment"
    if req.specifier and not _satisfies(installed, req.specifier):
        return f"requirement {req.line!r} does not match the installed {req.name} {installed}"
    return None


def _satisfies(installed: str, specifier: str) -> bool:
    try:  # 'packaging' is usually present (pip, pytest, setuptools use it) but is not a packflow dependency
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
    except ImportError:
        exact = re.fullmatch(r"==\s*([^\s,]+)", specifier)
        return exact is None or exact.group(1) == installed
    try:
        return SpecifierSet(specifier).contains(installed, prereleases=True)
    except InvalidSpecifier:
        return True
