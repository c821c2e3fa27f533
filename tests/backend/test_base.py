"""InferenceBackend: construction, the call pipeline, step errors, metrics and statistics."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from packflow import BackendConfig, InferenceBackend
from packflow.backend.metrics import ExecutionMetrics, StepStatistics
from packflow.exceptions import (
    InferenceBackendInitializationError,
    InferenceBackendRuntimeError,
    PackflowError,
    PreprocessorInitError,
    PreprocessorRuntimeError,
)


class Echo(InferenceBackend):
    def execute(self, inputs: Any) -> Any:
        return inputs


class Doubler(InferenceBackend):
    """Uses all four steps."""

    def transform_inputs(self, inputs: list[dict]) -> list[int]:
        return [r["x"] for r in inputs]

    def execute(self, inputs: list[int]) -> list[int]:
        return [2 * x for x in inputs]

    def transform_outputs(self, outputs: list[int]) -> list[dict]:
        return [{"y": y} for y in outputs]


def test_backend_is_abstract_and_only_execute_is_required() -> None:
    with pytest.raises(TypeError, match="execute"):
        InferenceBackend()  # type: ignore[abstract]
    assert Echo()([{"a": 1}]) == [{"a": 1}]


def test_dict_in_dict_out_and_list_in_list_out() -> None:
    backend = Doubler()
    assert backend({"x": 2}) == {"y": 4}
    assert backend([{"x": 1}, {"x": 3}]) == [{"y": 2}, {"y": 6}]
    assert backend([]) == []


@pytest.mark.parametrize("bad", ["text", 3, None, ({"x": 1},)])
def test_non_record_input_names_the_received_type(bad: Any) -> None:
    with pytest.raises(InferenceBackendRuntimeError) as info:
        Echo()(bad)
    assert info.value.step == "input"
    assert type(bad).__name__ in str(info.value)


def test_steps_run_in_order_and_optional_steps_are_skipped() -> None:
    calls: list[str] = []

    class Tracing(InferenceBackend):
        def transform_inputs(self, inputs: Any) -> Any:
            calls.append("transform_inputs")
            return inputs

        def execute(self, inputs: Any) -> Any:
            calls.append("execute")
            return inputs

        def transform_outputs(self, outputs: Any) -> Any:
            calls.append("transform_outputs")
            return outputs

    Tracing()([{"a": 1}])
    assert calls == ["transform_inputs", "execute", "transform_outputs"]
    metrics = Echo()
    metrics([{"a": 1}])
    times = metrics.get_metrics().execution_times
    assert times.transform_inputs is None and times.transform_outputs is None


@pytest.mark.parametrize("step", ["transform_inputs", "execute", "transform_outputs"])
def test_failure_in_a_step_names_the_step_and_chains_the_cause(step: str) -> None:
    def boom(self: Any, data: Any) -> Any:
        raise KeyError("missing-thing")

    cls = type("Broken", (Doubler,), {step: boom})
    with pytest.raises(InferenceBackendRuntimeError) as info:
        cls()([{"x": 1}])
    assert info.value.step == step
    assert f"{step}()" in str(info.value) and "missing-thing" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


def test_preprocess_failure_names_step_and_record_index() -> None:
    backend = Echo(feature_names=["a.b"])
    with pytest.raises(InferenceBackendRuntimeError) as info:
        backend([{"a": {"b": 1}}, {"x.y": 1, "a": {"b": 2}}])
    assert info.value.step == "preprocess"
    assert info.value.record_index == 1
    assert isinstance(info.value.__cause__, PreprocessorRuntimeError)
    assert "record 1" in str(info.value)


def test_final_output_must_be_a_list_but_intermediate_steps_may_pass_anything() -> None:
    class ArrayInside(InferenceBackend):
        def transform_inputs(self, inputs: list[dict]) -> tuple:
            return tuple(r["x"] for r in inputs)

        def execute(self, inputs: tuple) -> dict:
            return {"sum": sum(inputs)}

        def transform_outputs(self, outputs: dict) -> list[dict]:
            return [outputs]

    assert ArrayInside()({"x": 4}) == {"sum": 4}

    class ReturnsDict(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return {"not": "a list"}

    with pytest.raises(InferenceBackendRuntimeError) as info:
        ReturnsDict()([{"a": 1}])
    assert info.value.step == "output-contract"
    assert "dict" in str(info.value) and "list" in str(info.value)


def test_single_record_call_must_produce_exactly_one_record() -> None:
    class Two(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs * 2

    with pytest.raises(InferenceBackendRuntimeError, match="returned 2 records for one input"):
        Two()({"a": 1})


def test_ready_defaults_truthy_and_is_never_checked_by_call() -> None:
    class NotReady(Echo):
        def ready(self) -> bool:
            raise AssertionError("__call__ must not ask ready()")

    assert Echo().ready()
    assert NotReady()({"a": 1}) == {"a": 1}


def test_initialize_runs_once_is_timed_in_ms_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Slow(Echo):
        runs = 0

        def initialize(self) -> None:
            type(self).runs += 1
            threading.Event().wait(0.02)

    with caplog.at_level(logging.INFO, logger="packflow"):
        backend = Slow()
    assert Slow.runs == 1
    assert 15.0 <= backend.initialize_time_ms < 5000.0
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("packflow")]
    assert any("Initialized Slow in" in m and m.endswith(" ms") for m in messages)


def test_initialize_failure_becomes_initialization_error_chained_to_cause() -> None:
    class Broken(Echo):
        def initialize(self) -> None:
            raise FileNotFoundError("model.bin")

    with pytest.raises(InferenceBackendInitializationError) as info:
        Broken()
    assert "Broken.initialize()" in str(info.value) and "model.bin" in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert isinstance(info.value, PackflowError)


def test_config_errors_surface_at_construction() -> None:
    with pytest.raises(PreprocessorInitError, match="feature_names"):
        Echo(input_format="numpy")
    with pytest.raises(ValueError, match="input_format"):
        Echo(input_format="parquet")


def test_subclass_overriding_init_and_calling_super_keeps_everything(caplog: pytest.LogCaptureFixture) -> None:
    class Config(BackendConfig):
        threshold: float = 0.5

    class Custom(InferenceBackend):
        backend_config_model = Config

        def __init__(self, model_name: str = "m", **kwargs: Any) -> None:
            self.model_name = model_name
            super().__init__(**kwargs)
            self.after = True

        def initialize(self) -> None:
            self.loaded = f"{self.model_name}@{self.config.threshold}"

        def execute(self, inputs: list[dict]) -> list[dict]:
            return [{"hit": r["score"] > self.config.threshold} for r in inputs]

    with caplog.at_level(logging.INFO, logger="packflow"):
        backend = Custom(model_name="big", threshold=0.9, feature_names=["score"], verbose=True)
    assert backend.loaded == "big@0.9" and backend.after
    assert isinstance(backend.logger, logging.Logger) and backend.logger.name.startswith("packflow")
    assert backend([{"score": 0.95, "noise": 1}]) == [{"hit": True}]
    assert backend.get_metrics().batch_size == 1
    assert backend.get_statistics()["execute"].count == 1
    assert backend.check_io([{"score": 0.1}]) == [{"hit": False}]


def test_get_metrics_reports_last_call() -> None:
    backend = Doubler()
    with pytest.raises(InferenceBackendRuntimeError, match="not been called"):
        backend.get_metrics()
    backend([{"x": 1}, {"x": 2}, {"x": 3}])
    metrics = backend.get_metrics()
    assert isinstance(metrics, ExecutionMetrics)
    assert metrics.batch_size == 3
    times = metrics.execution_times
    assert set(times.model_dump(exclude_none=True)) == {"preprocess", "transform_inputs", "execute", "transform_outputs"}
    assert all(v >= 0 for v in times.model_dump(exclude_none=True).values())
    assert metrics.total_execution_time == pytest.approx(times.total())
    backend({"x": 5})
    assert backend.get_metrics().batch_size == 1


def test_concurrent_calls_keep_per_call_metrics_consistent() -> None:
    class Sleepy(InferenceBackend):
        def execute(self, inputs: list[dict]) -> list[dict]:
            threading.Event().wait(0.001 * len(inputs))
            return inputs

    backend = Sleepy()
    errors: list[str] = []
    barrier = threading.Barrier(6)

    def worker(size: int) -> None:
        barrier.wait()
        for _ in range(25):
            out = backend([{"i": i} for i in range(size)])
            metrics = backend.get_metrics()
            if metrics.batch_size != size or len(out) != size:
                errors.append(f"thread sent {size}, metrics say {metrics.batch_size}")
            total = sum(v for v in metrics.execution_times.model_dump(exclude_none=True).values())
            if abs(metrics.total_execution_time - total) > 1e-6:
                errors.append("total does not match the steps")

    threads = [threading.Thread(target=worker, args=(size,)) for size in (1, 2, 3, 5, 8, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[:5]
    stats = backend.get_statistics()
    assert stats["total"].count == 6 * 25 and stats["execute"].count == 6 * 25


def test_rolling_statistics_cover_steps_and_total_with_a_fixed_window() -> None:
    class Small(Doubler):
        statistics_window = 8

    backend = Small()
    for i in range(20):
        backend([{"x": i}])
    with pytest.raises(InferenceBackendRuntimeError):
        backend([{"nope": 1}])  # fails in transform_inputs
    stats = backend.get_statistics()
    assert set(stats) == {"preprocess", "transform_inputs", "execute", "transform_outputs", "total"}
    total = stats["total"]
    assert isinstance(total, StepStatistics)
    assert total.count == 20 and total.errors == 1 and total.window == 8
    assert stats["transform_inputs"].errors == 1 and stats["execute"].errors == 0
    assert 0 <= total.p50_ms <= total.p95_ms <= total.p99_ms <= total.max_ms
    assert total.mean_ms > 0


def test_verbose_logs_each_calls_metrics(caplog: pytest.LogCaptureFixture) -> None:
    quiet, loud = Echo(), Echo(verbose=True)
    with caplog.at_level(logging.DEBUG, logger="packflow"):
        quiet([{"a": 1}])
        assert not [r for r in caplog.records if "batch_size" in r.getMessage()]
        loud([{"a": 1}, {"a": 2}])
    assert [r for r in caplog.records if "batch_size=2" in r.getMessage()]


def test_repr_names_class_and_config() -> None:
    assert repr(Echo(verbose=True)).startswith("Echo(") and "verbose=True" in repr(Echo(verbose=True))


class Scaler(InferenceBackend):
    def initialize(self) -> None:
        self.factor = 3
        self.initialized = getattr(self, "initialized", 0) + 1

    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"y": r["x"] * self.factor} for r in inputs]


def test_backend_pickles_without_reinitialising_and_rebuilds_its_plan() -> None:
    import pickle

    backend = Scaler(feature_names=["x"])
    backend([{"x": 1, "junk": 2}])
    clone = pickle.loads(pickle.dumps(backend))
    assert clone.initialized == 1 and clone.config == backend.config
    assert clone([{"x": 2, "junk": 0}]) == [{"y": 6}]
    assert clone.get_metrics().batch_size == 1 and clone.get_statistics()["total"].count == 1
