"""``PackflowConfig``: the schema of a project's ``packflow.yaml``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from packflow.constants import PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME
from packflow.exceptions import ProjectInvalidError, ProjectNotFoundError
from packflow.logger import get_logger

__all__ = [
    "METADATA_KEYS",
    "NAME_PATTERN",
    "RUNTIME_CONFIG_KEYS",
    "PackflowConfig",
    "ProjectYAMLError",
    "SAMPLE_INPUTS_KEY",
    "apply_env_vars",
    "get_python_version",
    "load_yaml_file",
    "normalize_archive_name",
]

METADATA_KEYS = ["name", "version", "description", "maintainers"]
RUNTIME_CONFIG_KEYS = ["inference_backend", "loader", "python_version"]
SECTION_KEYS = ["env", "backend_config", "extra"]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
#: Key under ``extra`` naming the project's sample-input file (JSON lines), relative to the project root.
SAMPLE_INPUTS_KEY = "sample_inputs"

NameStr = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
BackendTarget = Annotated[str, StringConstraints(pattern=r"^[^:\s]+:[^:\s]+$")]
InferenceBackendStr = BackendTarget  # packflow 0.4.1 name


class ProjectYAMLError(ProjectInvalidError, yaml.YAMLError):
    """``packflow.yaml`` is not valid YAML (also a ``yaml.YAMLError``, which packflow 0.4.1 raised)."""


def get_python_version() -> str:
    """The running interpreter's ``major.minor.micro``."""
    return "{}.{}.{}".format(*sys.version_info[:3])


def normalize_archive_name(name: str) -> str:
    """Project name as used in archive file names: ``-`` becomes ``_`` (PEP 625 style)."""
    return name.replace("-", "_")


class PackflowConfig(BaseModel):
    """The contents of ``packflow.yaml``; unknown top-level keys are an error."""

    model_config = ConfigDict(extra="forbid")

    name: NameStr
    version: str = "0.1.0"
    description: str = ""
    maintainers: list[str] = []

    inference_backend: BackendTarget = "inference:Backend"
    loader: Literal["local", "module"] = "local"
    python_version: str = get_python_version()

    env: dict[str, str] = {}
    backend_config: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    @classmethod
    def from_project_path(cls, base_dir: str | Path) -> PackflowConfig:
        """Read and validate ``packflow.yaml`` in ``base_dir``."""
        path = Path(base_dir).resolve() / PACKAGING_CONFIG_NAME
        if not path.exists():
            raise ProjectNotFoundError(
                f"Not a packflow project: no {PACKAGING_CONFIG_NAME} in {path.parent}. "
                "Run 'packflow create NAME' to start one."
            )
        raw = load_yaml_file(path)
        if not isinstance(raw, dict):
            raise ProjectInvalidError(f"{path} must be a YAML mapping of keys such as name, version, inference_backend.")
        return cls.from_dict(_stringify_scalars(raw), source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = PACKAGING_CONFIG_NAME) -> PackflowConfig:
        """Validate a mapping, raising ``ProjectInvalidError`` that names each bad or unknown key."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"]) or "<root>"
                if err["type"] == "extra_forbidden":
                    allowed = ", ".join(METADATA_KEYS + RUNTIME_CONFIG_KEYS + SECTION_KEYS)
                    problems.append(f"unknown key {key!r} (allowed: {allowed})")
                elif err["type"] == "string_pattern_mismatch" and key == "name":
                    problems.append(
                        f"name {err['input']!r} must start with a letter, then letters, digits, '-' or '_'"
                    )
                elif err["type"] == "string_pattern_mismatch" and key == "inference_backend":
                    problems.append(f"inference_backend {err['input']!r} must look like 'module:ClassName'")
                else:
                    problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
            raise ProjectInvalidError(f"Invalid {source}: " + "; ".join(problems)) from exc

    @property
    def sample_inputs(self) -> str | None:
        """The sample-input file named by ``extra.sample_inputs``, if any (relative to the project root)."""
        value = self.extra.get(SAMPLE_INPUTS_KEY)
        return str(value) if value is not None else None

    def metadata(self) -> dict[str, Any]:
        """The METADATA section as a dict (name, version, description, maintainers)."""
        data = self.model_dump()
        return {k: data[k] for k in METADATA_KEYS}

    def runtime(self) -> dict[str, Any]:
        """The RUNTIME section as a dict (inference_backend, loader, python_version)."""
        data = self.model_dump()
        return {k: data[k] for k in RUNTIME_CONFIG_KEYS}

    def archive_file_name(self, base_dir: str | Path) -> Path:
        """``<base_dir>/<name with - as _>-<version>.zip``."""
        return Path(base_dir).resolve() / f"{normalize_archive_name(self.name)}-{self.version}.zip"

    def to_yaml(self) -> str:
        """The YAML text, with METADATA and RUNTIME headers, keys in a stable order."""
        data = self.model_dump()
        chunks = ["# === METADATA ===\n", _dump({k: data[k] for k in METADATA_KEYS})]
        chunks += ["\n# === RUNTIME ===\n", _dump({k: data[k] for k in RUNTIME_CONFIG_KEYS})]
        headers = {"env": "ENVIRONMENT", "backend_config": "BACKEND CONFIG", "extra": "CUSTOM"}
        for key in SECTION_KEYS:
            if data.get(key):
                chunks += [f"\n# === {headers[key]} ===\n", _dump({key: data[key]})]
        return "".join(chunks)

    def write_yaml(self, base_dir: str | Path) -> Path:
        """Write ``packflow.yaml`` into ``base_dir`` and return its path."""
        path = Path(base_dir).resolve() / PACKAGING_CONFIG_NAME
        path.write_text(self.to_yaml(), encoding="utf-8")
        return path

    def write_requirements(self, base_dir: str | Path) -> Path:
        """Write a ``requirements.txt`` whose first line pins the installed packflow."""
        from packflow._version import __version__

        path = Path(base_dir).resolve() / REQUIREMENTS_TEXT_NAME
        path.write_text(f"packflow=={__version__}\n", encoding="utf-8")
        return path


#: Most YAML nodes ``packflow.yaml`` may expand to, counting each alias use as a copy (an alias bomb
#: of a few hundred bytes would otherwise expand to billions of values in validation or export).
MAX_YAML_NODES = 100_000


def load_yaml_file(path: Path) -> Any:
    """The YAML value of ``path``, read safely; ``ProjectInvalidError`` (a ``ValueError``) naming the file on any problem.

    Regular files only (a FIFO would hang), at most 16 MiB, UTF-8, nesting the parser can take,
    and at most :data:`MAX_YAML_NODES` nodes once aliases are expanded.
    """
    from packflow.utils._files import read_text_file

    text = read_text_file(str(path), str(path), ProjectInvalidError)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
            raise ProjectInvalidError(
                f"{path} expands to more than {MAX_YAML_NODES:,} values through YAML aliases (&anchor / *alias); "
                "write the values out or use fewer aliases."
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProjectYAMLError(f"{path} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ProjectInvalidError(f"{path} nests YAML too deeply to be a project file.") from exc


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (memoised: linear in the document)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_YAML_NODES + 1  # a node that contains itself expands without end
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = min(total, MAX_YAML_NODES + 1)
    return sizes[id(node)]


def _stringify_scalars(raw: dict[str, Any]) -> dict[str, Any]:
    # YAML reads `version: 1.0` as a float and `python_version: 3.10` as 3.1; keep what the user typed
    # where a string is expected, and env values (always strings in os.environ) as text.
    fixed = dict(raw)
    for key in ("version", "python_version", "description"):
        if isinstance(fixed.get(key), (int, float)) and not isinstance(fixed.get(key), bool):
            fixed[key] = str(fixed[key])
    env = fixed.get("env")
    if isinstance(env, dict):
        fixed["env"] = {k: _env_text(v) for k, v in env.items()}
    return fixed


def _env_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value  # strings pass; anything else fails validation with the key named


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def apply_env_vars(config: PackflowConfig, root: Path | None = None) -> None:
    """Set the ``env`` section's variables, warning when one replaces a different existing value.

    With the project ``root``, a value starting with ``./`` or ``../`` is a path relative to the
    project and is set as an absolute path, so it means the same from any working directory.
    """
    logger = get_logger()
    for key, value in config.env.items():
        if root is not None and value.startswith(("./", "../")):
            value = str((root / value).resolve())
        existing = os.environ.get(key)
        if existing is not None and existing != value:
            logger.warning(
                "packflow.yaml env overwrites %s (was %r, now %r)", key, existing, value
            )
        os.environ[key] = value


#: packflow 0.4.1 names kept as thin shims (packflow.loaders._legacy_config, docs/migration.md).
_LEGACY = ("check_python_version", "load_packflow_config", "validate_for_export")


def __getattr__(name: str) -> Any:
    if name in _LEGACY:
        from packflow.loaders import _legacy_config

        return getattr(_legacy_config, name)
    raise AttributeError(f"module 'packflow.loaders.config' has no attribute {name!r}")
