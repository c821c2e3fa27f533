"""Sample inputs of a project: ``sample_inputs.jsonl`` or the file ``extra.sample_inputs`` names."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from packflow.constants import SAMPLE_INPUTS_NAME
from packflow.exceptions import ProjectError
from packflow.loaders.config import SAMPLE_INPUTS_KEY, PackflowConfig

__all__ = ["find_sample_inputs", "read_sample_inputs"]


def find_sample_inputs(root: Path, config: PackflowConfig) -> Path | None:
    """The sample-input file, or None when the project has none; a named but missing file is an error."""
    named = config.sample_inputs
    if named is None:
        default = root / SAMPLE_INPUTS_NAME
        return default if default.is_file() else None
    rel = PurePosixPath(named.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise ProjectError(f"extra.{SAMPLE_INPUTS_KEY} {named!r} must be a path inside the project, relative to it.")
    path = root.joinpath(*rel.parts)
    if not path.is_file():
        raise ProjectError(f"extra.{SAMPLE_INPUTS_KEY} names {named!r}, which does not exist in {root}.")
    return path


def read_sample_inputs(path: Path) -> list[dict]:
    """Records from a JSON-lines file (one object per line) or a ``.json`` file holding a list of objects."""
    text = path.read_text(encoding="utf-8")
    records: Any
    if path.suffix == ".json":
        records = _load(text, path, None)
        if not isinstance(records, list):
            raise ProjectError(f"{path.name} must hold a JSON list of records (objects).")
    else:
        records = [_load(line, path, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not records:
        raise ProjectError(f"{path.name} holds no records; add at least one JSON object.")
    for n, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise ProjectError(f"{path.name}: record {n} is a {type(record).__name__}, not a JSON object.")
    return records


def _load(text: str, path: Path, line: int | None) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f" line {line}" if line else ""
        raise ProjectError(f"{path.name}{where} is not valid JSON: {exc.msg} (column {exc.colno}).") from exc
