"""``BackendConfig`` and how it is loaded: defaults < project < kwargs < override file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from packflow.backend.formats import InputFormats
from packflow.constants import BACKEND_CONFIG_FILE_PATH_ENV
from packflow.exceptions import ConfigurationError
from packflow.logger import get_logger

__all__ = ["BackendConfig", "InputFormats", "deep_merge", "load_backend_configuration"]

logger = get_logger()


class BackendConfig(BaseModel):
    """Settings every backend has; subclass it and set ``backend_config_model`` to add your own."""

    model_config = ConfigDict(protected_namespaces=())

    verbose: bool = False

    input_format: InputFormats = InputFormats.RECORDS
    rename_fields: dict[str, str] = {}
    feature_names: list[str] = []
    flatten_nested_inputs: bool = False
    flatten_lists: bool = False
    nested_field_delimiter: str = "."
    ignore_delimiter_collisions: bool = False

    output_keys: list[str] = []

    @field_validator("nested_field_delimiter")
    @classmethod
    def _delimiter_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("nested_field_delimiter must be a non-empty string such as '.'")
        return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: dicts merge recursively, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _read_override_file(path_text: str) -> dict[str, Any]:
    path = Path(path_text)
    where = f"{BACKEND_CONFIG_FILE_PATH_ENV}={path_text!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the backend config override file named by {where}: {exc.strerror or exc}. "
            f"Create the file or unset {BACKEND_CONFIG_FILE_PATH_ENV}."
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"The backend config override file {where} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        raise ConfigurationError(
            f"The backend config override file {where} must be a JSON object with a top-level "
            f'"configs" object, e.g. {{"configs": {{"verbose": true}}}}.'
        )
    return data["configs"]


def load_backend_configuration(
    backend_config_model: BackendConfig | type[BackendConfig] = BackendConfig,
    **backend_kwargs: Any,
) -> BackendConfig:
    """Validate ``backend_kwargs`` (deep-merged with the override file, if named) into a config model."""
    model = backend_config_model if isinstance(backend_config_model, type) else type(backend_config_model)
    values: dict[str, Any] = dict(backend_kwargs)
    source = "keyword arguments"
    override_path = os.environ.get(BACKEND_CONFIG_FILE_PATH_ENV)
    if override_path:
        values = deep_merge(values, _read_override_file(override_path))
        source = f"keyword arguments merged with {BACKEND_CONFIG_FILE_PATH_ENV}={override_path!r}"
    try:
        config = model.model_validate(values)
    except ValidationError as exc:
        raise ConfigurationError(f"Invalid backend configuration from {source}: {_describe(exc)}") from exc
    _warn_unknown_keys(model, values)
    logger.debug("Backend configuration: %r", config)
    return config


def _warn_unknown_keys(model: type[BackendConfig], values: dict[str, Any]) -> None:
    if model.model_config.get("extra") in ("allow", "forbid"):
        return
    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        logger.warning(
            "Ignoring unknown backend config keys %s: %s has no such fields "
            "(add them to your BackendConfig subclass to use them).",
            unknown,
            model.__name__,
        )


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{loc}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)
