"""What keeps ``packflow install`` offline: a requirements check run before pip, and a neutral pip.

A ``requirements.txt`` line may only name a requirement (``name[extras] <specifiers> ; <markers>``,
optionally ``--hash=``) or a file inside the extracted archive. Options (``-f``, ``-i``,
``--extra-index-url``, ``-r``, ``-e`` …), URLs, ``name @ url`` direct references, VCS links and
paths outside the archive are refused, naming the line, before pip runs. pip itself runs with
``--isolated --no-index --only-binary=:all:``, ``PIP_CONFIG_FILE=/dev/null`` (so no global, user or
site configuration file is read) and without any ``PIP_*`` variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from packflow.exceptions import ArchiveError

__all__ = ["check_requirements", "offline_env", "pip_offline_args"]

_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[A-Za-z0-9._,\s-]*\])?\s*"
    r"(?:(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*(?:,\s*(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*)*)?$"
)
_HASH = re.compile(r"\s--hash[=\s]\S+")
_LOCAL_FILE = (".whl",)


def check_requirements(path: Path, root: Path) -> list[str]:
    """The lines of ``path`` that pip may see, refusing any that could reach beyond ``root``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"Cannot read {path.name} of the archive: {exc}.") from exc
    kept = []
    for number, line in _logical_lines(text):
        problem = _line_problem(line, root)
        if problem:
            raise ArchiveError(
                f"{path.name} line {number}: {line!r} {problem}; packflow install uses only the wheels bundled "
                "in the archive. Remove the line and re-export."
            )
        kept.append(line)
    return kept


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        pending = ""
        if line:
            lines.append((start, line))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def _line_problem(line: str, root: Path) -> str | None:
    if line.startswith("-"):
        return "is a pip option (index, find-links, nested file or editable install)"
    if "://" in line or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*\+", line) or line.startswith(("git@", "hg@")):
        return "is a URL or version-control link"
    spec, _, marker = line.partition(";")
    spec = _HASH.sub("", " " + spec).strip()
    if "@" in spec:
        return "is a direct reference ('name @ …')"
    if _REQUIREMENT.match(spec):
        return None
    if spec.endswith(_LOCAL_FILE) and _inside(spec, root):
        return None
    if "/" in spec or "\\" in spec or spec.startswith((".", "~")):
        return "is a path outside the archive's wheels"
    return "is not a requirement (name[extras] with version specifiers)"


def _inside(spec: str, root: Path) -> bool:
    if os.path.isabs(spec) or spec.startswith("~"):
        return False
    resolved = (root / spec).resolve()
    return resolved.is_relative_to(root.resolve()) and resolved.is_file()


def offline_env() -> dict[str, str]:
    """The environment without pip settings, so only the bundled wheels can be used."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def pip_offline_args(wheels: Path) -> list[str]:
    """The ``pip install`` options that keep it to the wheels in ``wheels``."""
    return ["--isolated", "--no-index", "--only-binary=:all:", "--no-cache-dir", "--find-links", str(wheels)]
