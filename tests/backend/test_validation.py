"""check_io / validate: every contract violation in one InferenceBackendValidationError."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from packflow import InferenceBackend
from packflow.backend.validation import check_outputs
from packflow.exceptions import InferenceBackendRuntimeError, InferenceBackendValidationError


class Fixed(InferenceBackend):
    """Returns whatever ``output`` is configured to, regardless of input."""

    def __init__(self, output: Any, **kwargs: Any) -> None:
        self.output = output
        super().__init__(**kwargs)

    def execute(self, inputs: Any) -> Any:
        return self.output


def test_valid_backend_returns_outputs_and_validate_is_an_alias() -> None:
    backend = Fixed([{"y": 1}], output_keys=["y"])
    assert backend.check_io({"x": 1}) == {"y": 1}
    assert backend.validate([{"x": 1}]) == [{"y": 1}]


def test_every_violation_is_reported_at_once() -> None:
    backend = Fixed([{"y": object()}, "oops", {"z": float("nan")}], output_keys=["y"])
    with pytest.raises(InferenceBackendValidationError) as info:
        backend.check_io([{"x": 1}, {"x": 2}])
    problems = info.value.problems
    text = str(info.value)
    assert len(problems) == 4, problems
    assert "3 outputs for 2 inputs" in text
    assert "output 0 is not JSON-serialisable" in text and "not JSON serializable: object" in text
    assert "output 1 is a str, not a dict" in text
    assert "output 2 is not JSON-serialisable" not in text  # NaN is written as null by every driver
    assert "output 0 lacks" not in text and "output 2 lacks declared output_keys ['y']" in text
    assert "4 contract violation(s)" in text


def test_check_io_accepts_what_every_driver_encodes_numpy_nan_and_wide_ints() -> None:
    outputs = [{"y": np.int64(1), "nan": float("nan"), "id": 2**70, "v": np.array([np.inf])}]
    assert Fixed(outputs).check_io([{"x": 1}]) == outputs


def test_input_violations_are_all_listed_before_running() -> None:
    backend = Fixed([{"y": 1}])
    with pytest.raises(InferenceBackendValidationError) as info:
        backend.check_io([{"x": 1}, 3, "a"])  # type: ignore[list-item]
    assert info.value.problems == [
        "input 1 is a int, not a dict (records are JSON objects)",
        "input 2 is a str, not a dict (records are JSON objects)",
    ]
    with pytest.raises(InferenceBackendValidationError, match="empty list"):
        backend.check_io([])
    with pytest.raises(InferenceBackendValidationError, match="got str"):
        backend.check_io("x")  # type: ignore[arg-type]


def test_output_that_is_not_a_list_is_a_validation_error() -> None:
    with pytest.raises(InferenceBackendValidationError) as info:
        Fixed({"y": 1}).check_io([{"x": 1}])
    assert "dict" in str(info.value) and "list" in str(info.value)


def test_a_crashing_step_is_a_runtime_error_not_a_violation() -> None:
    class Crash(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            raise RuntimeError("model exploded")

    with pytest.raises(InferenceBackendRuntimeError, match="model exploded"):
        Crash().check_io([{"x": 1}])


def test_check_outputs_is_empty_for_good_outputs() -> None:
    assert check_outputs([{}, {}], [{"a": [1, "x", None]}, {"a": {"b": True}}], ["a"]) == []
