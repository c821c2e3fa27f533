"""``PackflowProject``: create a project from a template, validate it, export it as an archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packflow.backend.base import InferenceBackend
from packflow.constants import PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME
from packflow.loaders.config import PackflowConfig, apply_env_vars
from packflow.project.report import ValidationReport

__all__ = ["PackflowProject"]

#: Report sections of the file checks (the rest check packflow.yaml's contents).
_FILE_SECTIONS = frozenset({"files", "requirements", "recommended"})


class PackflowProject:
    """A project directory holding ``packflow.yaml``, ``requirements.txt`` and the backend code."""

    #: packflow 0.4.1 names: files an export requires, and files it recommends.
    REQUIRED_FILES = [PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME]
    RECOMMENDED_FILES = ["MODEL_CARD.md", "LICENSE.txt", "README.md"]

    def __init__(self, base_dir: str | Path) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.export_warnings: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__} @ {self.base_dir}"

    @property
    def has_packflow_config(self) -> bool:
        """Whether ``packflow.yaml`` exists."""
        return (self.base_dir / PACKAGING_CONFIG_NAME).is_file()

    @classmethod
    def create(
        cls, project_name: str, force: bool = False, template: str = "minimal",
        config_data: dict[str, Any] | None = None, optional_files: list[str] | None = None,
        parent_dir: str | Path = ".",
    ) -> PackflowProject:
        """Create ``parent_dir/project_name`` from a template; ``config_data`` sets packflow.yaml fields."""
        from packflow.project.template import create_project

        return cls(create_project(project_name, Path(parent_dir), force=force, template=template,
                                  config_data=config_data, optional_files=optional_files))

    @property
    def config(self) -> PackflowConfig:
        """``packflow.yaml``, validated (environment variables are not applied)."""
        return PackflowConfig.from_project_path(self.base_dir)

    def load_config(self) -> PackflowConfig:
        """``packflow.yaml``, with its ``env`` section applied to ``os.environ``."""
        config = self.config
        apply_env_vars(config)
        return config

    def load_backend(self, **backend_kwargs: Any) -> InferenceBackend:
        """The backend ``packflow.yaml`` names, with ``backend_config`` as base values."""
        from packflow.loaders.base import InferenceBackendLoader

        return InferenceBackendLoader.from_project(self.base_dir, **backend_kwargs)

    def sample_inputs_path(self) -> Path | None:
        """``sample_inputs.jsonl``, or the file ``extra.sample_inputs`` names; None if there is none."""
        from packflow.project.samples import find_sample_inputs

        return find_sample_inputs(self.base_dir, self.config)

    def load_sample_inputs(self) -> list[dict]:
        """The sample records (an empty list when the project has no sample-input file)."""
        from packflow.project.samples import read_sample_inputs

        path = self.sample_inputs_path()
        return read_sample_inputs(path) if path is not None else []

    def validate(self, strict_config: bool = False) -> ValidationReport:
        """Run every validation check (files, requirements, metadata, backend loading, sample inputs).

        Unknown backend config keys are warnings, or errors with ``strict_config=True``.
        """
        from packflow.project.checks import run_checks

        return run_checks(self.base_dir, strict_config=strict_config)

    def validate_required_files(self, verbose: bool = False, config: PackflowConfig | None = None) -> tuple[list[str], list[str]]:
        """``(errors, warnings)`` of :meth:`validate` (packflow 0.4.1's signature; ``verbose`` is ignored).

        As in 0.4.1, the checks of ``packflow.yaml``'s contents (metadata, Python version, that the
        backend loads, sample inputs) run only when ``config`` is given; the file checks always run.
        """
        report = self.validate()
        if config is None:
            kept = [c for c in report.checks if c.section in _FILE_SECTIONS]
            report = ValidationReport(report.project, kept)
        return report.errors, report.warnings

    def files(self, exclude: set[Path] | frozenset[Path] = frozenset()) -> dict[str, Path]:
        """The files an export includes: archive name → path."""
        from packflow.project.files import select_files

        return select_files(self.base_dir, exclude)

    def export(
        self, output_directory: str | Path | None = None, verbose: bool = False, *, with_wheels: bool = False,
        platforms: tuple[str, ...] = (), python_version: str | None = None, extras: tuple[str, ...] = (),
        sign_key: str | Path | None = None,
    ) -> Path:
        """Validate, then write ``<name>-<version>.zip`` (reproducible, with a manifest) to ``output_directory``.

        ``output_directory`` defaults to ``dist/`` inside the project (never itself exported).
        Raises ``ProjectInvalidError`` (a ``ValueError``) listing the validation errors when there are any; warnings are kept
        in ``export_warnings``. ``with_wheels`` bundles wheels for every requirement (and packflow's
        ``extras``) under ``wheels/`` with a CycloneDX SBOM; ``sign_key`` signs the manifest.
        """
        from packflow.project.export import ExportOptions, export_project

        self.config  # no packflow.yaml: ProjectNotFoundError, as 0.4.1 raised FileNotFoundError  # noqa: B018
        report = self.validate()
        self.export_warnings = report.warnings
        options = ExportOptions(with_wheels, tuple(platforms), python_version, tuple(extras),
                                Path(sign_key) if sign_key is not None else None)
        out = Path(output_directory) if output_directory is not None else None
        return export_project(self, report, out, options=options)
