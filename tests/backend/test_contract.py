"""A direct call checks what the Runner checks; config layers deep-merge; subclass mistakes are named."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from packflow import BackendConfig, InferenceBackend
from packflow.exceptions import (
    BackendNotInitializedError,
    ConfigurationError,
    InferenceBackendInitializationError,
    InferenceBackendRuntimeError,
)
from packflow.runtime import Runner, is_dead_letter


class Returns(InferenceBackend):
    """Returns whatever ``self.out`` is, ignoring its inputs."""

    out: Any = None

    def execute(self, inputs: Any) -> Any:
        return self.out


def _returning(out: Any) -> Returns:
    backend = Returns()
    backend.out = out
    return backend


@pytest.mark.parametrize("out", [[1], ["text"], [[{"a": 1}]], [None]], ids=["int", "str", "list", "none"])
def test_dict_in_call_whose_output_is_not_a_dict_is_an_output_contract_error(out: Any) -> None:
    with pytest.raises(InferenceBackendRuntimeError) as info:
        _returning(out)({"a": 1})
    assert info.value.step == "output-contract"
    assert "Returns" in str(info.value) and "must be a dict" in str(info.value)


def test_list_in_call_with_more_outputs_than_inputs_is_refused() -> None:
    with pytest.raises(InferenceBackendRuntimeError, match="3 outputs for 2 input records") as info:
        _returning([{"y": 1}, {"y": 2}, {"y": 3}])([{"a": 1}, {"a": 2}])
    assert info.value.step == "output-contract"


def test_list_in_call_with_a_non_dict_output_names_the_record() -> None:
    with pytest.raises(InferenceBackendRuntimeError, match="for record 1") as info:
        _returning([{"y": 1}, 7, {"y": 3}])([{"a": 1}, {"a": 2}, {"a": 3}])
    assert (info.value.step, info.value.record_index) == ("output-contract", 1)


def test_dict_subclasses_are_records() -> None:
    from collections import OrderedDict

    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return [OrderedDict(r) for r in inputs]

    assert Echo()([OrderedDict(a=1)]) == [{"a": 1}]


@pytest.mark.parametrize("records", [[{"a": 1}, 5], [None], [{"a": 1}, {"b": 2}, ["x"]]])
def test_non_dict_input_records_are_refused_with_their_index(records: list) -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    with pytest.raises(InferenceBackendRuntimeError, match="takes records as dicts") as info:
        Echo(input_format="passthrough")(records)
    bad = next(i for i, r in enumerate(records) if not isinstance(r, dict))
    assert (info.value.step, info.value.record_index) == ("input", bad)


def test_runner_isolates_a_non_dict_input_record_around_its_index() -> None:
    class Echo(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    runner = Runner(Echo(), max_batch_size=10)
    results = runner.process_batch([{"i": 0}, {"i": 1}, 42, {"i": 3}])
    assert [is_dead_letter(r) for r in results] == [False, False, True, False]
    assert results[2].step == "input"
    assert runner.snapshot().backend_calls == 4  # the batch, [0, 2), [2] alone, [3, 4): split around record 2


def test_runner_still_dead_letters_one_bad_output_in_one_call() -> None:
    backend = _returning([{"y": 1}, 7, {"y": 3}])
    runner = Runner(backend, max_batch_size=10)
    results = runner.process_batch([{"a": 1}, {"a": 2}, {"a": 3}])
    assert results[1].step == "output-contract" and results[0] == {"y": 1}
    assert runner.snapshot().backend_calls == 1


# -- defaults deep-merge ---------------------------------------------------------------------


class ModelSettings(BackendConfig):
    model: dict = {"name": "resnet", "params": {"lr": 0.1, "epochs": 3}}


class WithModel(InferenceBackend):
    backend_config_model = ModelSettings

    def execute(self, inputs: Any) -> Any:
        return inputs


def test_a_dict_default_deep_merges_with_kwargs() -> None:
    config = WithModel(model={"params": {"lr": 0.5}}).config
    assert config.model == {"name": "resnet", "params": {"lr": 0.5, "epochs": 3}}
    assert ModelSettings().model == {"name": "resnet", "params": {"lr": 0.1, "epochs": 3}}  # default untouched


def test_a_sub_model_default_deep_merges_too() -> None:
    from pydantic import BaseModel

    class Params(BaseModel):
        lr: float = 0.01
        depth: int = 2

    class Settings(BackendConfig):
        params: Params = Params(lr=0.2, depth=9)

    class Backend(InferenceBackend):
        backend_config_model = Settings

        def execute(self, inputs: Any) -> Any:
            return inputs

    assert Backend(params={"lr": 0.5}).config.params == Params(lr=0.5, depth=9)


# -- subclass mistakes -----------------------------------------------------------------------


def test_forgetting_super_init_says_so() -> None:
    class Forgetful(InferenceBackend):
        def __init__(self, **kwargs: Any) -> None:
            self.threshold = 0.5

        def execute(self, inputs: Any) -> Any:
            return inputs

    backend = Forgetful()
    with pytest.raises(BackendNotInitializedError, match=r"did not call super\(\).__init__\(\*\*kwargs\)"):
        backend([{"a": 1}])
    with pytest.raises(AttributeError):  # still an AttributeError for code that expects one
        backend.config  # noqa: B018
    assert isinstance(BackendNotInitializedError("x"), InferenceBackendInitializationError)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        backend.nothing  # noqa: B018


def test_initialize_time_is_part_of_get_metrics() -> None:
    import time

    class Slow(InferenceBackend):
        def initialize(self) -> None:
            time.sleep(0.02)

        def execute(self, inputs: Any) -> Any:
            return inputs

    backend = Slow()
    backend({"a": 1})
    metrics = backend.get_metrics()
    assert metrics.initialize_time_ms is not None and metrics.initialize_time_ms >= 20.0
    assert metrics.total_execution_time < metrics.initialize_time_ms  # not counted in the call's total


# -- unknown keys ----------------------------------------------------------------------------


class Thresholds(BackendConfig):
    threshold: float = 0.5


class WithThreshold(InferenceBackend):
    backend_config_model = Thresholds

    def execute(self, inputs: Any) -> Any:
        return inputs


def test_unknown_keys_warn_with_a_suggestion(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="packflow"):
        backend = WithThreshold(treshold=0.9)
    assert "'treshold' (from kwargs / --config; did you mean 'threshold'?)" in caplog.text
    assert backend.config.threshold == 0.5
    [unknown] = backend.config_sources().unknown
    assert (unknown.key, unknown.suggestion) == ("treshold", "threshold")


def test_strict_config_makes_unknown_keys_an_error() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'threshold'") as info:
        WithThreshold(treshold=0.9, strict_config=True)
    assert "strict_config" in str(info.value)
    assert WithThreshold(threshold=0.9, strict_config=True).config.threshold == 0.9


def test_an_unknown_key_without_a_close_field_has_no_suggestion() -> None:
    [unknown] = WithThreshold(zzzzzz=1).config_sources().unknown
    assert unknown.suggestion is None
