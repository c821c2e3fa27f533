"""``BackendConfig`` and how it is loaded: defaults < project < kwargs < override file."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import difflib
import os
from typing import Any, Iterator, Mapping, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from packflow.backend.formats import InputFormats
from packflow.backend.provenance import (
    LAYER_DEFAULT,
    LAYER_KWARGS,
    LAYER_OVERRIDE,
    LAYER_PROJECT,
    ConfigResolution,
    UnknownKey,
)
from packflow.constants import BACKEND_CONFIG_FILE_PATH_ENV
from packflow.exceptions import ConfigurationError
from packflow.logger import get_logger

__all__ = [
    "BackendConfig",
    "ConfigResolution",
    "InputFormats",
    "deep_merge",
    "load_backend_configuration",
    "project_layer",
    "resolve_backend_configuration",
]

logger = get_logger()

#: The ``backend_config`` section of the project being loaded (set by ``from_project``).
_PROJECT_LAYER: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "packflow_project_backend_config", default=None
)


@contextlib.contextmanager
def project_layer(backend_config: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, backends constructed here take ``backend_config`` as the packflow.yaml layer."""
    token = _PROJECT_LAYER.set(backend_config)
    try:
        yield
    finally:
        _PROJECT_LAYER.reset(token)


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

    numpy_dtype: Optional[str] = None
    feature_dtypes: dict[str, str] = {}
    required_fields: list[str] = []

    strict_config: bool = False

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
    from packflow.utils._files import load_json_text, read_text_file

    label = f"the backend config override file named by {BACKEND_CONFIG_FILE_PATH_ENV}={path_text!r}"
    data = load_json_text(read_text_file(path_text, label, ConfigurationError), label, ConfigurationError)
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        raise ConfigurationError(
            f"The backend config override file {BACKEND_CONFIG_FILE_PATH_ENV}={path_text!r} must be a JSON object "
            f'with a top-level "configs" object, e.g. {{"configs": {{"verbose": true}}}}.'
        )
    return data["configs"]


def _override_layer() -> tuple[str, dict[str, Any]] | None:
    """The ``BACKEND_CONFIG_FILE_PATH`` layer, or None when the variable is unset."""
    path = os.environ.get(BACKEND_CONFIG_FILE_PATH_ENV)
    if path is None:
        return None
    if not path.strip():
        raise ConfigurationError(
            f"{BACKEND_CONFIG_FILE_PATH_ENV} is set but empty; point it at a JSON override file or unset it."
        )
    return path, _read_override_file(path)


def load_backend_configuration(
    backend_config_model: BackendConfig | type[BackendConfig] = BackendConfig,
    **backend_kwargs: Any,
) -> BackendConfig:
    """Validate ``backend_kwargs`` (deep-merged with the override file, if named) into a config model."""
    return resolve_backend_configuration(backend_config_model, backend_kwargs).config


def resolve_backend_configuration(
    backend_config_model: BackendConfig | type[BackendConfig], backend_kwargs: Mapping[str, Any]
) -> ConfigResolution:
    """The validated config and where each value came from (see :class:`ConfigResolution`)."""
    model = backend_config_model if isinstance(backend_config_model, type) else type(backend_config_model)
    layers = [(LAYER_DEFAULT, _mergeable_defaults(model))]
    project = _PROJECT_LAYER.get()
    _PROJECT_LAYER.set(None)  # consumed: a backend built inside this one's initialize() does not inherit it
    if project:
        layers.append((LAYER_PROJECT, dict(project)))
    if backend_kwargs:
        layers.append((LAYER_KWARGS, dict(backend_kwargs)))
    override = _override_layer()
    if override is not None:
        layers.append((LAYER_OVERRIDE, override[1]))
    values: dict[str, Any] = {}
    for _, layer in layers:
        values = deep_merge(values, layer)
    where = [name if name != LAYER_OVERRIDE else f"{name}={override[0]!r}" for name, _ in layers[1:]]  # type: ignore[index]
    config = _validate(model, values, where)
    resolution = ConfigResolution(config, layers, _unknown_keys(model, values, layers), override and override[0])
    _report_unknown(resolution)
    if logger.isEnabledFor(10):  # DEBUG
        try:
            shown: Any = _masked(config.model_dump(mode="json"))
        except Exception:  # noqa: BLE001 - a field pydantic cannot dump as JSON: show the names only
            shown = f"fields {sorted(type(config).model_fields)}"
        logger.debug("Backend configuration: %s", shown)
    return resolution


#: Config keys whose values the debug log never shows (matched as substrings of the lower-cased key).
_SECRET_KEY_PARTS = ("password", "passwd", "secret", "token", "api_key", "apikey", "credential", "private_key", "auth")


def _masked(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``***`` (at any depth)."""
    if isinstance(value, dict):
        return {k: "***" if any(part in str(k).lower() for part in _SECRET_KEY_PARTS) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _mergeable_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The model's dict and sub-model defaults, so that values for them deep-merge instead of replacing."""
    defaults: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            continue
        value = field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel):
            defaults[name] = value.model_dump()
        elif isinstance(value, Mapping) and value:
            defaults[name] = copy.deepcopy(dict(value))
    return defaults


def _validate(model: type[BackendConfig], values: dict[str, Any], sources: list[str]) -> BackendConfig:
    where = " merged with ".join(sources) if sources else "the model defaults"
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigurationError(f"Invalid backend configuration from {where}: {_describe(exc)}") from exc
    except RecursionError as exc:
        raise ConfigurationError(f"The backend configuration from {where} is nested too deeply.") from exc


def _unknown_keys(model: type[BackendConfig], values: dict[str, Any], layers: list) -> list[UnknownKey]:
    if model.model_config.get("extra") in ("allow", "forbid"):
        return []
    fields = list(model.model_fields)
    unknown = []
    for key in sorted(set(values) - set(fields)):
        layer = next(name for name, data in reversed(layers) if key in data)
        close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
        unknown.append(UnknownKey(str(key), layer, close[0] if close else None))
    return unknown


def _report_unknown(resolution: ConfigResolution) -> None:
    if not resolution.unknown:
        return
    listing = "; ".join(u.describe() for u in resolution.unknown)
    model = type(resolution.config).__name__
    if getattr(resolution.config, "strict_config", False):
        raise ConfigurationError(
            f"Unknown backend config keys (strict_config is on): {listing}. {model} has no such fields; "
            "fix the names or add the fields to your BackendConfig subclass."
        )
    logger.warning(
        "Ignoring unknown backend config keys: %s. %s has no such fields (add them to your BackendConfig "
        "subclass to use them, or set strict_config=True to make this an error).",
        listing,
        model,
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{loc}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)
