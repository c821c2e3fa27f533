"""The checks behind ``packflow validate``: each adds ok / warning / error entries to a report."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
from pathlib import Path
from typing import Any

from packflow._version import __version__
from packflow.backend.base import InferenceBackend
from packflow.constants import PACKAGING_CONFIG_NAME, REQUIREMENTS_TEXT_NAME
from packflow.exceptions import InferenceBackendValidationError, PackflowError
from packflow.loaders.config import PackflowConfig, get_python_version
from packflow.logger import LOGGER_NAME
from packflow.project.report import ValidationReport
from packflow.project.requirements import canonical_name, installed_problem, parse_requirements
from packflow.project.samples import find_sample_inputs, read_sample_inputs

__all__ = ["RECOMMENDED_FILES", "UNTOUCHED_MARKERS", "run_checks"]

#: Files a distributable project should have; missing, empty or untouched ones are warnings.
RECOMMENDED_FILES = ("README.md", "MODEL_CARD.md", "LICENSE.txt")
#: Text that shows a file is still the template (current and packflow 0.4 templates).
UNTOUCHED_MARKERS = {
    "README.md": ("TODO: describe what this backend does", "# Project Name", "Brief description of the analytic"),
    "MODEL_CARD.md": ("{introduction}",),
    "LICENSE.txt": ("TODO: replace this text with the license",),
}


def run_checks(root: Path, strict_config: bool = False) -> ValidationReport:
    """Run every check on the project at ``root`` (``strict_config``: unknown config keys are errors)."""
    report = ValidationReport(root)
    config = _check_config(root, report)
    _check_requirements(root, report)
    _check_recommended(root, report)
    if config is not None:
        _check_metadata(config, report)
        _check_python_version(config, report)
        backend = _check_backend(root, config, report, strict_config)
        _check_samples(root, config, backend, report)
    return report


def _check_config(root: Path, report: ValidationReport) -> PackflowConfig | None:
    if not (root / PACKAGING_CONFIG_NAME).exists():
        report.error("files", f"Not a packflow project: required file {PACKAGING_CONFIG_NAME!r} is missing in {root}; "
                     "run 'packflow create NAME' to start a project.")
        return None
    try:
        config = PackflowConfig.from_project_path(root)
    except PackflowError as exc:
        report.error("files", str(exc))
        return None
    report.ok("files", f"{PACKAGING_CONFIG_NAME} ({config.name} {config.version})")
    return config


def _check_requirements(root: Path, report: ValidationReport) -> None:
    path = root / REQUIREMENTS_TEXT_NAME
    if not path.is_file():
        report.error("files", f"Required file {REQUIREMENTS_TEXT_NAME!r} is missing; its first line should be 'packflow=={__version__}'.")
        return
    requirements = parse_requirements(path.read_text(encoding="utf-8"))
    if not any(canonical_name(r.name) == "packflow" for r in requirements):
        report.error("requirements", f"'packflow' is not listed in {REQUIREMENTS_TEXT_NAME}; add 'packflow=={__version__}'.")
    else:
        report.ok("files", REQUIREMENTS_TEXT_NAME)
    for req in requirements:
        problem = installed_problem(req)
        if problem:
            report.warn("requirements", problem)
        else:
            report.ok("requirements", req.line)


def _check_recommended(root: Path, report: ValidationReport) -> None:
    for name in RECOMMENDED_FILES:
        path = root / name
        if not path.is_file():
            report.warn("recommended", f"Recommended file {name!r} is missing.")
            continue
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if not text:
            report.warn("recommended", f"{name!r} is empty.")
        elif any(marker in text for marker in UNTOUCHED_MARKERS.get(name, ())):
            report.warn("recommended", f"{name!r} appears to be unchanged from the template.")
        else:
            report.ok("recommended", name)


def _check_metadata(config: PackflowConfig, report: ValidationReport) -> None:
    if not config.version.strip():
        report.error("metadata", "'version' is empty; export names the archive <name>-<version>.zip.")
    if not config.description.strip():
        report.warn("metadata", "'description' is empty; a description is recommended before distributing.")
    else:
        report.ok("metadata", f"description: {config.description[:50]}")
    if not [m for m in config.maintainers if m.strip()]:
        report.warn("metadata", "'maintainers' is empty; at least one maintainer is recommended before distributing.")
    else:
        report.ok("metadata", f"maintainers: {', '.join(config.maintainers)}")


def _check_python_version(config: PackflowConfig, report: ValidationReport) -> None:
    parts = config.python_version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        report.warn("runtime", f"Could not parse python_version {config.python_version!r} in packflow.yaml; "
                    f"expected a version like '{get_python_version()}'.")
    elif (int(parts[0]), int(parts[1])) != sys.version_info[:2]:
        report.warn(
            "runtime",
            f"packflow.yaml specifies Python {config.python_version} but this environment runs "
            f"{get_python_version()}; update python_version or switch interpreter.",
        )
    else:
        report.ok("runtime", f"python_version {config.python_version} matches this interpreter")


def _check_backend(root: Path, config: PackflowConfig, report: ValidationReport,
                   strict_config: bool = False) -> InferenceBackend | None:
    from packflow.loaders.base import InferenceBackendLoader

    if config.loader == "local":
        module = config.inference_backend.split(":")[0]
        source = root / (module.replace(".", "/") + ".py")
        if not source.is_file():
            report.error("backend", f"Backend file {source.relative_to(root).as_posix()!r} for inference_backend "
                         f"{config.inference_backend!r} (loader: local) is missing.")
            return None
    try:
        with _quiet(), _no_unknown_key_log():
            backend = InferenceBackendLoader.from_project(root, **({"strict_config": True} if strict_config else {}))
    except Exception as exc:  # noqa: BLE001 - any failure of user code is a validation error
        report.error("backend", f"inference_backend {config.inference_backend!r} does not load: {type(exc).__name__}: {exc}")
        return None
    report.ok("backend", f"{config.inference_backend} loads ({config.loader} loader)")
    _check_unknown_keys(backend, report)
    return backend


def _check_unknown_keys(backend: InferenceBackend, report: ValidationReport) -> None:
    model = type(backend.config).__name__
    for unknown in backend.config_sources().unknown:
        report.warn("backend", f"Unknown backend config key {unknown.describe()}: {model} has no such field, so it is "
                    "ignored; fix the name, add the field, or run with --strict-config to make this an error.")


@contextlib.contextmanager
def _no_unknown_key_log() -> Any:
    """The report says it; the configuration logger's warning would say it twice."""
    logger = logging.getLogger(LOGGER_NAME)
    quiet = _DropUnknownKeyWarning()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


class _DropUnknownKeyWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Ignoring unknown backend config keys")


def _check_samples(root: Path, config: PackflowConfig, backend: InferenceBackend | None, report: ValidationReport) -> None:
    try:
        path = find_sample_inputs(root, config)
        if path is None:
            report.ok("samples", "no sample inputs (add sample_inputs.jsonl to have check_io run on them)")
            return
        records = read_sample_inputs(path)
    except PackflowError as exc:
        report.error("samples", str(exc))
        return
    if backend is None:
        return
    rel = path.relative_to(root).as_posix()
    try:
        with _quiet():
            backend.check_io(records)
    except InferenceBackendValidationError as exc:
        report.error("samples", f"check_io on {rel} failed: " + "; ".join(exc.problems))
    except Exception as exc:  # noqa: BLE001
        report.error("samples", f"check_io on {rel} failed: {type(exc).__name__}: {exc}")
    else:
        report.ok("samples", f"check_io passed on {len(records)} record(s) from {rel}")


@contextlib.contextmanager
def _quiet() -> Any:
    """Keep prints of user code out of the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield
