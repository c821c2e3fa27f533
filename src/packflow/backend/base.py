"""``InferenceBackend``: the contract users implement, and its profiled call pipeline."""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from packflow.backend.preprocessors import Preprocessor, get_preprocessor
from packflow.backend.rolling import RollingStats
from packflow.backend.validation import InferenceBackendValidator
from packflow.exceptions import (
    InferenceBackendInitializationError,
    InferenceBackendRuntimeError,
)
from packflow.logger import get_logger

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.metrics import ExecutionMetrics, StepStatistics

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
_RUNTIME_ATTRIBUTES = ("_preprocessor", "_plan", "_step_names", "_stats", "_last", "_local", "_verbose")


class InferenceBackend(ABC):
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
        from packflow.backend.configuration import load_backend_configuration

        #: The project's root directory (a project, an archive's extraction directory on any machine,
        #: a Ray actor's or Spark worker's copy); else the directory of the file defining the class.
        #: Resolve files the backend ships with against it: ``self.project_dir / "models" / "m.bin"``.
        self.project_dir: Path | None = PROJECT_DIR.get() or _defining_dir(type(self))

        self.logger = get_logger(type(self).__name__)
        # ConfigurationError / PreprocessorInitError / UnknownPreprocessorError propagate as they are,
        # as in packflow 0.4 (they are ValueErrors, like pydantic's ValidationError was).
        self.config = load_backend_configuration(self.backend_config_model, **kwargs)
        self._build_runtime()
        self._run_initialize()

    def _build_runtime(self) -> None:
        """Preprocessor, compiled plan, metrics: everything derived from the config (not pickled)."""
        self._preprocessor: Preprocessor = get_preprocessor(self.config)
        self._plan = self._compile_plan()
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
        return f"{type(self).__name__}({self.config!r})"

    # -- the pipeline ---------------------------------------------------------------------------

    def __call__(self, inputs: dict | list[dict]) -> dict | list[dict]:
        """Run the pipeline on one record (returns a dict) or a list of records (returns a list)."""
        kind = type(inputs)
        if kind is dict:
            records: list = [inputs]
        elif kind is list:
            records = inputs  # type: ignore[assignment]
        else:
            records = self._coerce_input(inputs)
        data: Any = records
        marks = [_clock()]
        mark = marks.append
        for name, step in self._plan:
            try:
                data = step(data)
            except Exception as exc:
                self._stats.record_error(name)
                raise self._step_error(name, exc) from exc
            except BaseException as exc:  # SystemExit & co. pass through unwrapped, naming their step
                exc.packflow_step = name  # type: ignore[attr-defined]
                raise
            mark(_clock())
        if type(data) is not list and not isinstance(data, list):
            raise self._output_error(f"returned {type(data).__name__} from its last step; it must return a list of records (one dict per input).")
        if records is not inputs:
            if len(data) != 1:
                raise self._output_error(f"returned {len(data)} records for one input record; return exactly one.")
            data = data[0]
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

    def _output_error(self, what: str) -> InferenceBackendRuntimeError:
        self._stats.record_error("output-contract")
        return InferenceBackendRuntimeError(f"{type(self).__name__} {what}", step="output-contract")

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
        )

    def get_statistics(self) -> dict[str, StepStatistics]:
        """Rolling per-step latency statistics (ms) across calls, plus ``total``; see docs/metrics.md."""
        from packflow.backend.display import StepStatisticsTable

        return StepStatisticsTable(self._stats.snapshot())
