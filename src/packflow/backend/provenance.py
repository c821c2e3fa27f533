"""Where each effective backend-config value came from: ``backend.config_sources()``.

The layers, lowest first: the model's defaults, the project's ``packflow.yaml`` ``backend_config``,
keyword arguments (``--config`` on the command line), and the file named by
``BACKEND_CONFIG_FILE_PATH``. Dict values deep-merge, so provenance is kept per leaf path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.configuration import BackendConfig

__all__ = [
    "LAYER_DEFAULT",
    "LAYER_KWARGS",
    "LAYER_OVERRIDE",
    "LAYER_PROJECT",
    "ConfigResolution",
    "ConfigSource",
    "UnknownKey",
]

LAYER_DEFAULT = "model default"
LAYER_PROJECT = "packflow.yaml backend_config"
LAYER_KWARGS = "kwargs / --config"
LAYER_OVERRIDE = "BACKEND_CONFIG_FILE_PATH"


@dataclass(frozen=True)
class UnknownKey:
    """A configuration key the model has no field for, the layer that set it, and the closest field."""

    key: str
    layer: str
    suggestion: str | None = None

    def describe(self) -> str:
        """``'treshold' (from kwargs / --config; did you mean 'threshold'?)``."""
        hint = f"; did you mean {self.suggestion!r}?" if self.suggestion else ""
        return f"{self.key!r} (from {self.layer}{hint})"


@dataclass(frozen=True)
class ConfigSource:
    """One effective config value: its dotted ``key``, ``value`` and the ``layer`` that set it."""

    key: str
    value: Any
    layer: str


@dataclass
class ConfigResolution:
    """A validated config, the layers it was merged from (lowest first) and the unknown keys."""

    config: BackendConfig
    layers: list[tuple[str, dict[str, Any]]]
    unknown: list[UnknownKey] = field(default_factory=list)
    #: The file ``BACKEND_CONFIG_FILE_PATH`` named, when it was set.
    override_path: str | None = None

    def sources(self) -> list[ConfigSource]:
        """Every effective key (nested dicts as dotted leaf paths) with its value and layer."""
        try:
            dumped = self.config.model_dump(mode="json")
        except Exception:  # noqa: BLE001 - a custom field type without a JSON form: show Python values
            dumped = self.config.model_dump()
        return [ConfigSource(key, value, self._layer_of(path)) for path, key, value in _leaves(dumped)]

    def _layer_of(self, path: tuple[str, ...]) -> str:
        for name, data in reversed(self.layers[1:]):
            if _contains(data, path):
                return name
        return LAYER_DEFAULT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"keys": [{key, value, layer}], "unknown": [{key, layer, suggestion}], "layers": [...]}``."""
        return {
            "model": type(self.config).__name__,
            "layers": [name for name, _ in self.layers],
            "override_path": self.override_path,
            "keys": [vars(s) for s in self.sources()],
            "unknown": [vars(u) for u in self.unknown],
        }


def _leaves(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    for key, value in data.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, ".".join(path), value


def _contains(data: Any, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True
