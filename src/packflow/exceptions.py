"""The packflow exception tree: every error packflow raises derives from ``PackflowError``."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AbstractBackendError",
    "ArchiveError",
    "BackendAttributeError",
    "BackendModuleNotFoundError",
    "BackendNotInitializedError",
    "BackendSourceNotFoundError",
    "ConfigurationError",
    "DecodeError",
    "EncodeError",
    "InferenceBackendInitializationError",
    "InferenceBackendLoadError",
    "InferenceBackendRuntimeError",
    "InferenceBackendValidationError",
    "InputError",
    "InvalidRecordsError",
    "PackflowError",
    "PreprocessorInitError",
    "PreprocessorRuntimeError",
    "ProjectError",
    "ProjectExistsError",
    "ProjectInvalidError",
    "ProjectNotFoundError",
    "UnknownPreprocessorError",
]


class PackflowError(Exception):
    """Base class of every exception packflow raises."""


class ConfigurationError(PackflowError, ValueError):
    """A backend configuration (keyword arguments or override file) is invalid."""


class InferenceBackendInitializationError(PackflowError):
    """``initialize()`` (or config/preprocessor set-up) failed while constructing a backend."""


class InferenceBackendRuntimeError(PackflowError):
    """A call to a backend failed; ``step`` names the pipeline step that raised.

    ``step`` is one of ``input``, ``preprocess``, ``transform_inputs``, ``execute``,
    ``transform_outputs`` or ``output-contract``. ``record_index`` is set when the failing
    record is known (preprocessors report it).
    """

    def __init__(self, message: str, *, step: str = "execute", record_index: int | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.record_index = record_index


class InferenceBackendValidationError(PackflowError):
    """``check_io()`` found contract violations; ``problems`` lists each one."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems or [message])


class InferenceBackendLoadError(PackflowError, ImportError):
    """A backend could not be imported, found, or instantiated by a loader."""


class UnknownPreprocessorError(PackflowError, ValueError):
    """``input_format`` names no known preprocessor."""


class PreprocessorInitError(PackflowError, ValueError):
    """A preprocessor's configuration cannot work (e.g. ``numpy`` without ``feature_names``)."""


class PreprocessorRuntimeError(PackflowError):
    """A preprocessor failed on a record; ``record_index`` and ``field`` say where."""

    def __init__(self, message: str, *, record_index: int | None = None, field: Any = None) -> None:
        super().__init__(message)
        self.record_index = record_index
        self.field = field


class ProjectError(PackflowError):
    """A packflow project (``packflow.yaml``, files on disk) is missing or invalid."""


class ArchiveError(PackflowError):
    """An exported archive is unsafe, tampered with, or cannot be read."""


class BackendNotInitializedError(InferenceBackendInitializationError, AttributeError):
    """A backend subclass's ``__init__`` did not call ``super().__init__(**kwargs)``."""


class DecodeError(PackflowError, ValueError):
    """Input is not JSON packflow accepts (invalid JSON, ``NaN``/``Infinity``, not UTF-8, not an object)."""


class EncodeError(PackflowError, TypeError):
    """A value cannot be encoded as JSON (an unsupported type, a non-string key that cannot be converted)."""


# -- typed errors that are also what packflow 0.4.1 raised (docs/migration.md) -------------------


class AbstractBackendError(InferenceBackendLoadError, TypeError):
    """A loader found an abstract backend class (0.4.1 raised ``TypeError`` instantiating it)."""


class BackendModuleNotFoundError(InferenceBackendLoadError, ModuleNotFoundError):
    """``ModuleLoader`` found no installed module of the target's name."""


class BackendSourceNotFoundError(PackflowError, FileNotFoundError):
    """``LocalLoader`` found no ``.py`` file for the target (``load()`` wraps it in a load error)."""


class BackendAttributeError(PackflowError, AttributeError):
    """``LocalLoader``: the module has no attribute of the target's name (``load()`` wraps it)."""


class InvalidRecordsError(PackflowError, ValueError):
    """A value passed as records is not a list of dicts."""


class ProjectNotFoundError(ProjectError, FileNotFoundError):
    """A project's ``packflow.yaml`` (or a named template) does not exist."""


class ProjectExistsError(ProjectError, FileExistsError):
    """``create`` was asked to write into an existing directory without ``force``."""


class ProjectInvalidError(ProjectError, ValueError):
    """``packflow.yaml`` is invalid, or validation errors block an export."""


class InputError(PackflowError, ValueError):
    """The input record is wrong (a missing or mistyped field): the caller must fix it.

    Raise it from ``transform_inputs`` (or any step) for a record the model cannot take; servers
    answer it with a 4xx status (the client's fault), not a 5xx (the model's).
    """
