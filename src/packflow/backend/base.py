"""``InferenceBackend``: the contract users implement, and its profiled call pipeline."""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from packflow.backend._legacy import LegacyBackendHooks
from packflow.backend.preprocessors import Preprocessor, get_preprocessor
from packflow.backend.rolling import RollingStats
from packflow.backend.validation import InferenceBackendValidator
from packflow.exceptions import (
    BackendNotInitializedError,
    InferenceBackendInitializationError,
    InferenceBackendRuntimeError,
)
from packflow.logger import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.metrics import DataQuality, ExecutionMetrics, StepStatistics
    from packflow.backend.provenance import ConfigResolution

__all__ = ["InferenceBackend", "PROJECT_DIR"]

#: The project directory a loader is instantiating a backend from; ``InferenceBackend.project_dir``
#: reads it (loaders set it around instantiation, so it is known inside ``initialize()``).
PROJECT_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("packflow_project_dir", default=None)


def _defining_dir(cls: type) -> Path | None:
    """The directory of the file that defines ``cls`` (None in a notebook or the REPL)."""
    file = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return Path(file).resolve().parent if file else None


class _DefaultConfigModel:
    """Class-attribute default that resolves to ``BackendConfig`` on first access.

    Defining or importing a backend class then does not import pydantic; constructing one does.
    """

    def __get__(self, instance: object, owner: type | None = None) -> type[BackendConfig]:
        from packflow.backend.configuration import BackendConfig

        return BackendConfig

_clock = time.perf_counter
_RUNTIME_ATTRIBUTES = ("_preprocessor", "_quality", "_plan", "_step_names", "_stats", "_last", "_local", "_verbose")


def _all_dicts(items: list) -> bool:
    """Whether every item is a dict: one C-speed pass for plain dicts, isinstance for subclasses."""
    return list(map(type, items)).count(dict) == len(items) or all(isinstance(i, dict) for i in items)


class InferenceBackend(LegacyBackendHooks, ABC):
    """Subclass this and implement ``execute()``; optionally ``initialize()``, ``ready()``,
    ``transform_inputs()`` and ``transform_outputs()``.

    Calling the instance runs ``preprocess → transform_inputs → execute → transform_outputs``
    on a record (dict → dict) or a batch (list of dicts → list of dicts), timing every step.
    """

    #: The pydantic model validating this backend's configuration; subclass ``BackendConfig`` to extend it.
    backend_config_model: type[BackendConfig] | BackendConfig = _DefaultConfigModel()  # type: ignore[assignment]
    #: Number of recent calls the rolling per-step percentiles cover.
    statistics_window: int = 1024

    def __init__(self, **kwargs: Any) -> None:
        from packflow.backend.configuration import resolve_backend_configuration

        #: The project's root directory (a project, an archive's extraction directory on any machine,
        #: a Ray actor's or Spark worker's copy); else the directory of the file defining the class.
        #: Resolve files the backend ships with against it: ``self.project_dir / "models" / "m.bin"``.
        self.project_dir: Path | None = PROJECT_DIR.get() or _defining_dir(type(self))

        self.logger = get_logger(type(self).__name__)
        # ConfigurationError / PreprocessorInitError / UnknownPreprocessorError propagate as they are,
        # as in packflow 0.4 (they are ValueErrors, like pydantic's ValidationError was).
        self._config_resolution = resolve_backend_configuration(self.backend_config_model, kwargs)
        self.config = self._config_resolution.config
        self._build_runtime()
        self._run_initialize()

    def _build_runtime(self) -> None:
        """Preprocessor, compiled plan, metrics: everything derived from the config (not pickled)."""
        self._preprocessor: Preprocessor = get_preprocessor(self.config)
        self._quality = self._preprocessor.quality
        self._plan = self._legacy_plan(self._compile_plan())
        self._step_names = tuple(name for name, _ in self._plan)
        self._stats = RollingStats(self._step_names, window=self.statistics_window)
        self._last: tuple[int, list[float]] | None = None
        self._local = threading.local()
        self._verbose = self.config.verbose

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the user's state and config; the compiled plan and metrics are rebuilt on load."""
        state = self.__dict__.copy()
        for name in _RUNTIME_ATTRIBUTES:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a pickled backend without re-running ``initialize()``; metrics start afresh."""
        self.__dict__.update(state)
        self._build_runtime()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__.get('config')!r})"

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the runtime attributes are missing exactly when a
        # subclass's __init__ did not call super().__init__(**kwargs).
        if name in _RUNTIME_ATTRIBUTES or name in ("config", "_config_resolution"):
            raise BackendNotInitializedError(
                f"{type(self).__name__} is not initialised: its __init__ did not call "
                "super().__init__(**kwargs). Add that call (before using self.config) so the configuration, "
                "preprocessor and metrics are set up."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- the pipeline ---------------------------------------------------------------------------

    def __call__(self, inputs: dict | list[dict]) -> dict | list[dict]:
        """Run the pipeline on one record (returns a dict) or a list of records (returns a list).

        The outputs are checked as the Runner checks them: one dict per input record, in order;
        a violation raises ``InferenceBackendRuntimeError`` with ``step="output-contract"``.
        """
        kind = type(inputs)
        if kind is dict:
            data = self._pipeline([inputs])
            if len(data) != 1 or not isinstance(data[0], dict):
                raise self._single_output_error(data)
            return data[0]
        records = inputs if kind is list else self._coerce_input(inputs)
        data = self._pipeline(records)  # type: ignore[arg-type]
        if len(data) != len(records) or not _all_dicts(data):
            raise self._batch_output_error(records, data)  # type: ignore[arg-type]
        return data

    def _pipeline(self, records: list) -> list:
        """The four steps on a list of records, timed; the result is a list (items are not checked).

        The Runner calls this and checks each output itself, so that one bad output costs one
        dead letter rather than a bisection.
        """
        if not _all_dicts(records):
            raise self._input_record_error(records)
        data: Any = records
        marks = [_clock()]
        mark = marks.append
        for name, step in self._plan:
            try:
                data = step(data)
            except Exception as exc:
                self._stats.record_error(name)
                self._settle_quality(len(records) == 1)
                raise self._step_error(name, exc) from exc
            except BaseException as exc:  # SystemExit & co. pass through unwrapped, naming their step
                exc.packflow_step = name  # type: ignore[attr-defined]
                self._settle_quality(False)
                raise
            mark(_clock())
        if self._quality is not None:
            self._quality.commit()
        if type(data) is not list and not isinstance(data, list):
            raise self._output_error(f"returned {type(data).__name__} from its last step; it must return a list of records (one dict per input).")
        last = (len(records), marks)
        self._last = last
        self._local.last = last
        self._stats.record(marks)
        if self._verbose:
            self.logger.info("%s", self.get_metrics())
        return data

    def _coerce_input(self, inputs: Any) -> list:
        if isinstance(inputs, list):
            return inputs
        if isinstance(inputs, dict):
            return [inputs]
        self._stats.record_error("input")
        raise InferenceBackendRuntimeError(
            f"{type(self).__name__} takes a record (dict) or a list of records, got {type(inputs).__name__}; "
            "pass one dict or a list of dicts.",
            step="input",
        )

    def _settle_quality(self, alone: bool) -> None:
        """A failed call's data-quality counts count only if it held one record (isolation's last word)."""
        if self._quality is not None:
            if alone:
                self._quality.commit()
            else:
                self._quality.discard()

    def _input_record_error(self, records: list) -> InferenceBackendRuntimeError:
        index = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        self._stats.record_error("input")
        return InferenceBackendRuntimeError(
            f"{type(self).__name__} takes records as dicts, but record {index} is a "
            f"{type(records[index]).__name__} ({records[index]!r:.60}); send each record as a JSON object.",
            step="input",
            record_index=index,
        )

    def _output_error(self, what: str, record_index: int | None = None) -> InferenceBackendRuntimeError:
        self._stats.record_error("output-contract")
        return InferenceBackendRuntimeError(
            f"{type(self).__name__} {what}", step="output-contract", record_index=record_index
        )

    def _single_output_error(self, data: list) -> InferenceBackendRuntimeError:
        if len(data) != 1:
            return self._output_error(f"returned {len(data)} records for one input record; return exactly one.")
        return self._output_error(
            f"returned a {type(data[0]).__name__} ({data[0]!r:.60}) for the input record; each output must be a dict."
        )

    def _batch_output_error(self, records: list, data: list) -> InferenceBackendRuntimeError:
        if len(data) != len(records):
            return self._output_error(
                f"returned {len(data)} outputs for {len(records)} input records; return exactly one dict per "
                "input, in input order."
            )
        index = next(i for i, out in enumerate(data) if not isinstance(out, dict))
        return self._output_error(
            f"returned a {type(data[index]).__name__} ({data[index]!r:.60}) for record {index}; each output must "
            "be a dict.",
            record_index=index,
        )

    def _compile_plan(self) -> list[tuple[str, Callable[[Any], Any]]]:
        plan: list[tuple[str, Callable[[Any], Any]]] = [("preprocess", self._preprocessor.as_step())]
        if callable(getattr(self, "transform_inputs", None)):
            plan.append(("transform_inputs", self.transform_inputs))  # type: ignore[attr-defined]
        plan.append(("execute", self.execute))
        if callable(getattr(self, "transform_outputs", None)):
            plan.append(("transform_outputs", self.transform_outputs))  # type: ignore[attr-defined]
        return plan

    def _step_error(self, step: str, exc: Exception) -> InferenceBackendRuntimeError:
        index = getattr(exc, "record_index", None)
        where = f" on record {index}" if index is not None else ""
        return InferenceBackendRuntimeError(
            f"{step}() failed in {type(self).__name__}{where}: {type(exc).__name__}: {exc}",
            step=step,
            record_index=index,
        )

    def _run_initialize(self) -> None:
        start = _clock()
        try:
            self.initialize()
        except Exception as exc:
            raise InferenceBackendInitializationError(
                f"{type(self).__name__}.initialize() failed: {type(exc).__name__}: {exc}"
            ) from exc
        elapsed_ms = (_clock() - start) * 1000.0
        self.logger.info("Initialized %s in %.3f ms", type(self).__name__, elapsed_ms)
        self.initialize_time_ms = elapsed_ms

    # -- user hooks -----------------------------------------------------------------------------

    def initialize(self) -> None:
        """Load models and other heavy state; runs once at the end of ``__init__``."""
        return None

    def ready(self) -> bool:
        """Whether the backend can serve; drivers' readiness probes ask this (default: True)."""
        return True

    @abstractmethod
    def execute(self, inputs: Any) -> Any:
        """Run the model on the (pre-processed, transformed) batch and return its outputs."""

    # Optional hooks, looked up at construction:
    #   def transform_inputs(self, inputs: list[dict] | Any) -> Any
    #   def transform_outputs(self, outputs: Any) -> list[dict]

    # -- checks and metrics ---------------------------------------------------------------------

    def check_io(self, inputs: dict | list[dict]) -> dict | list[dict]:
        """Run sample inputs and raise ``InferenceBackendValidationError`` listing every contract violation."""
        return InferenceBackendValidator(self).run(inputs)

    def validate(self, inputs: dict | list[dict]) -> dict | list[dict]:
        """Alias of :meth:`check_io`."""
        return self.check_io(inputs)

    def config_sources(self) -> ConfigResolution:
        """Every effective config key with its value and the layer that set it, plus unknown keys.

        ``.sources()`` lists them; ``.to_dict()`` is JSON-ready; see docs/configuration.md.
        """
        return self._config_resolution

    def get_metrics(self) -> ExecutionMetrics:
        """Metrics of the last call made by this thread (or, if it made none, by any thread)."""
        last = getattr(self._local, "last", None) or self._last
        if last is None:
            raise InferenceBackendRuntimeError(
                f"{type(self).__name__} has not been called yet; call it before asking for metrics.",
                step="input",
            )
        from packflow.backend.metrics import ExecutionMetrics, ExecutionTimes

        batch_size, marks = last
        times = (round((b - a) * 1000.0, 5) for a, b in zip(marks, marks[1:]))
        return ExecutionMetrics(
            batch_size=batch_size,
            execution_times=ExecutionTimes(**dict(zip(self._step_names, times))),
            initialize_time_ms=self.__dict__.get("initialize_time_ms"),
        )._with_quality(self.get_data_quality)

    def get_data_quality(self) -> DataQuality | None:
        """Lifetime field-level data-quality counts of the preprocessor (None: no field is configured)."""
        return self._quality.snapshot() if self._quality is not None else None

    def get_statistics(self) -> dict[str, StepStatistics]:
        """Rolling per-step latency statistics (ms) across calls, plus ``total``; see docs/metrics.md."""
        from packflow.backend.display import StepStatisticsTable

        return StepStatisticsTable(self._stats.snapshot())
