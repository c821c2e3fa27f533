"""``InferenceBackend``: the pipeline, its errors, metrics, check_io and the validation helpers."""

from __future__ import annotations

import math

from compat_cases._registry import captured_logs, case
from packflow import InferenceBackend


class Echo(InferenceBackend):
    def execute(self, inputs):
        return inputs


class Doubler(InferenceBackend):
    def transform_inputs(self, inputs):
        return [r["x"] for r in inputs]

    def execute(self, inputs):
        return [2 * x for x in inputs]

    def transform_outputs(self, outputs):
        return [{"y": y} for y in outputs]


class Failing(InferenceBackend):
    def execute(self, inputs):
        raise ValueError("model exploded")


class Returns(InferenceBackend):
    """Returns whatever ``result`` is set to on the instance."""

    result = None

    def execute(self, inputs):
        return self.result


def returning(value):
    backend = Returns()
    backend.result = value
    return backend


# -- construction ------------------------------------------------------------------------------

@case()
def base_class_is_abstract():
    InferenceBackend()


@case()
def subclass_without_execute():
    class NoExecute(InferenceBackend):
        pass

    NoExecute()


@case()
def default_config_values():
    from packflow import BackendConfig

    dump = Echo().config.model_dump(mode="json")
    return {k: dump[k] for k in BackendConfig.model_fields if k in _OLD_FIELDS}


_OLD_FIELDS = ("verbose", "input_format", "rename_fields", "feature_names", "flatten_nested_inputs",
               "flatten_lists", "nested_field_delimiter", "ignore_delimiter_collisions", "output_keys")


@case(compare="superset")
def config_field_names():
    from packflow import BackendConfig

    return sorted(BackendConfig.model_fields)


@case()
def kwargs_reach_config():
    cfg = Echo(verbose=True, feature_names=["a"], output_keys=["y"]).config
    return [cfg.verbose, cfg.feature_names, cfg.output_keys]


@case()
def unknown_kwarg_is_ignored():
    return hasattr(Echo(no_such_setting=1).config, "no_such_setting")


@case(differs="pydantic-errors")
def bad_kwarg_type():
    Echo(verbose="not-a-bool")


@case(differs="pydantic-errors")
def bad_input_format():
    Echo(input_format="parquet")


@case()
def custom_config_model():
    from packflow import BackendConfig

    class MyConfig(BackendConfig):
        threshold: float = 0.5

    class WithConfig(InferenceBackend):
        backend_config_model = MyConfig

        def execute(self, inputs):
            return [{"t": self.config.threshold} for _ in inputs]

    return WithConfig(threshold=0.9)([{}, {}])


@case("initialize", "cannot load weights")
def initialize_failure():
    class BadInit(InferenceBackend):
        def initialize(self):
            raise RuntimeError("cannot load weights")

        def execute(self, inputs):
            return inputs

    BadInit()


@case()
def initialize_runs_once():
    class Counting(InferenceBackend):
        calls = 0

        def initialize(self):
            type(self).calls += 1

        def execute(self, inputs):
            return inputs

    Counting()
    return Counting.calls


@case()
def ready_default():
    return Echo().ready()


@case()
def repr_names_class():
    return repr(Echo()).startswith("Echo")


# -- calls -------------------------------------------------------------------------------------

@case()
def call_dict_returns_dict():
    return Echo()({"a": 1})


@case()
def call_list_returns_list():
    return Echo()([{"a": 1}, {"a": 2}])


@case()
def call_empty_list():
    return Echo()([])


@case()
def call_with_all_steps():
    return Doubler()([{"x": 1}, {"x": 4}])


@case()
def call_dict_with_all_steps():
    return Doubler()({"x": 3})


@case()
def call_string_input():
    Echo()("not records")


@case()
def call_none_input():
    Echo()(None)


@case()
def call_tuple_input():
    Echo()(({"a": 1},))


@case("execute() failed", "model exploded")
def execute_error_is_wrapped():
    Failing()([{"a": 1}])


@case()
def execute_error_cause_is_kept():
    try:
        Failing()([{"a": 1}])
    except Exception as exc:  # noqa: BLE001
        return [type(exc.__cause__).__name__, str(exc.__cause__)]


@case("transform_inputs() failed")
def transform_inputs_error():
    class BadTransform(InferenceBackend):
        def transform_inputs(self, inputs):
            raise KeyError("x")

        def execute(self, inputs):
            return inputs

    BadTransform()([{"a": 1}])


@case("transform_outputs() failed")
def transform_outputs_error():
    class BadOutputs(InferenceBackend):
        def execute(self, inputs):
            return inputs

        def transform_outputs(self, outputs):
            raise TypeError("bad output")

    BadOutputs()([{"a": 1}])


@case()
def output_not_a_list():
    returning({"not": "a list"})([{"a": 1}])


@case()
def output_none():
    returning(None)([{"a": 1}])


@case(differs="output-contract")
def list_in_outputs_not_dicts():
    return returning([1, 2])([{"a": 1}, {"a": 2}])


@case()
def call_does_not_mutate_input():
    records = [{"a": 1, "b": {"c": 2}}]
    Echo(rename_fields={"a": "x"}, feature_names=["x", "b.c"])(records)
    return records


# -- metrics -----------------------------------------------------------------------------------

def _metrics_shape(metrics):
    times = metrics.execution_times.model_dump()
    return {
        "batch_size": metrics.batch_size,
        "steps": sorted(k for k, v in times.items() if v is not None),
        "total_is_sum": math.isclose(metrics.total_execution_time, sum(v for v in times.values() if v),
                                     rel_tol=1e-6, abs_tol=1e-9),
        "non_negative": all(v >= 0 for v in times.values() if v is not None),
    }


@case()
def metrics_after_call():
    backend = Echo()
    backend([{"a": 1}, {"a": 2}, {"a": 3}])
    return _metrics_shape(backend.get_metrics())


@case()
def metrics_with_all_steps():
    backend = Doubler()
    backend({"x": 1})
    return _metrics_shape(backend.get_metrics())


@case(differs="metrics-before-call")
def metrics_before_any_call():
    Echo().get_metrics()


@case()
def execution_times_total():
    from packflow.backend.metrics import ExecutionTimes

    return ExecutionTimes(preprocess=1.5, execute=2.0, transform_outputs=0.5).total()


@case(differs="execution-times-none")
def execution_times_total_explicit_none():
    from packflow.backend.metrics import ExecutionTimes

    return ExecutionTimes(preprocess=1.0, execute=2.0, transform_inputs=None).total()


@case()
def execution_metrics_total():
    from packflow.backend.metrics import ExecutionMetrics

    m = ExecutionMetrics(batch_size=2, execution_times={"preprocess": 1.0, "execute": 3.0})
    return [m.batch_size, m.total_execution_time]


@case()
def execution_metrics_missing_batch_size():
    from packflow.backend.metrics import ExecutionMetrics

    ExecutionMetrics(execution_times={"preprocess": 1.0, "execute": 3.0})


@case()
def execution_times_missing_execute():
    from packflow.backend.metrics import ExecutionTimes

    ExecutionTimes(preprocess=1.0)


# -- check_io / validate -------------------------------------------------------------------------

@case()
def check_io_list():
    return Echo().check_io([{"a": 1}, {"a": 2}])


@case()
def check_io_dict():
    return Echo().check_io({"a": 1})


@case()
def validate_alias():
    return Echo().validate([{"a": 1}])


@case(differs="check-io-empty")
def check_io_empty_list():
    return Echo().check_io([])


@case()
def check_io_string_input():
    Echo().check_io("records")


@case()
def check_io_non_dict_item():
    Echo().check_io([{"a": 1}, 2])


@case()
def check_io_length_mismatch():
    returning([{"a": 1}]).check_io([{"a": 1}, {"a": 2}])


@case()
def check_io_items_not_dicts():
    returning([1, 2]).check_io([{"a": 1}, {"a": 2}])


@case(differs="check-io-json-rule")
def check_io_set_output():
    return returning([{"s": {1, 2}}]).check_io([{"a": 1}])


@case(differs="check-io-json-rule")
def check_io_numpy_scalar_output():
    import numpy as np

    return returning([{"p": np.float32(0.5)}]).check_io([{"a": 1}])


@case()
def check_io_unencodable_output():
    returning([{"o": object()}]).check_io([{"a": 1}])


@case()
def check_io_nan_output():
    return returning([{"p": float("nan")}]).check_io([{"a": 1}])


@case(differs="check-io-not-list")
def check_io_output_not_list():
    returning({"a": 1}).check_io([{"a": 1}])


@case()
def check_io_backend_crash():
    Failing().check_io([{"a": 1}])


@case(differs="output-keys-strict")
def check_io_missing_output_keys():
    backend = Echo(output_keys=["score"])
    with captured_logs() as lines:
        outputs = backend.check_io([{"a": 1}])
    return {"outputs": outputs, "warned": any("score" in line for line in lines)}


@case()
def check_io_output_keys_present():
    return Echo(output_keys=["a"]).check_io([{"a": 1}])


@case()
def validator_class_directly():
    from packflow.backend.validation import InferenceBackendValidator

    return InferenceBackendValidator(Echo()).run([{"a": 1}])


# -- 0.4.1's module-level validation helpers -------------------------------------------------------

def _helper(name, *args):
    from packflow.backend import validation

    return getattr(validation, name)(*args)


@case()
def helper_input_format_ok():
    return _helper("_input_is_correct_format", [{"a": 1}])


@case("not a dictionary")
def helper_input_format_item():
    _helper("_input_is_correct_format", [{"a": 1}, "x"])


@case("list format")
def helper_input_format_not_list():
    _helper("_input_is_correct_format", {"a": 1})


@case()
def helper_lengths_ok():
    return _helper("_inputs_and_outputs_match_len", [1, 2], [3, 4])


@case("matching lengths")
def helper_lengths_differ():
    _helper("_inputs_and_outputs_match_len", [1, 2], [3])


@case()
def helper_list_of_dicts_ok():
    return _helper("_output_is_list_of_dicts", [{"a": 1}])


@case("Python list")
def helper_list_of_dicts_not_list():
    _helper("_output_is_list_of_dicts", {"a": 1})


@case("list of dictionaries")
def helper_list_of_dicts_item():
    _helper("_output_is_list_of_dicts", [{"a": 1}, 3])


@case()
def helper_json_ok():
    return _helper("_output_is_json_serializable", [{"a": [1, "x", None]}])


@case("JSON Serializable")
def helper_json_bad():
    _helper("_output_is_json_serializable", [{"a": 1}, {"b": object()}])


@case()
def helper_output_keys_warns():
    from packflow.logger import get_logger

    with captured_logs() as lines:
        result = _helper("_check_output_keys", [{"a": 1}], ["a", "b"], get_logger())
    return {"result": result, "warned_b": sum("'b'" in line for line in lines), "warned_a": any("'a'" in l for l in lines)}


@case()
def helper_output_keys_none_declared():
    from packflow.logger import get_logger

    return _helper("_check_output_keys", [{"a": 1}], [], get_logger())


# -- the profiling hook subclasses used ------------------------------------------------------------

@case()
def execute_and_profile_step_runs_method():
    backend = Echo()

    def double(data):
        return [2 * d for d in data]

    return backend._execute_and_profile_step(double, [1, 2])


@case("double() failed", "no")
def execute_and_profile_step_wraps_errors():
    backend = Echo()

    def double(data):
        raise ValueError("no")

    backend._execute_and_profile_step(double, [1])


@case()
def overriding_execute_and_profile_step():
    seen = []

    class Traced(InferenceBackend):
        def _execute_and_profile_step(self, method, data):
            seen.append(method.__name__.strip("_"))
            return super()._execute_and_profile_step(method, data)

        def execute(self, inputs):
            return inputs

    Traced()([{"a": 1}])
    return seen


@case()
def preprocess_method():
    return Echo(feature_names=["a"])._preprocess([{"a": 1, "b": 2}])


# -- the output contract of a direct call ----------------------------------------------------------

@case(differs="output-contract")
def call_dict_two_outputs():
    return returning([{"a": 1}, {"b": 2}])({"a": 1})


@case(differs="output-contract")
def call_dict_output_not_dict():
    return returning([1])({"a": 1})


@case(differs="output-contract")
def call_list_output_too_short():
    return returning([{"a": 1}])([{"a": 1}, {"a": 2}])


@case(differs="non-dict-records")
def call_list_of_non_dicts():
    return Echo()([1, "two"])


@case()
def call_dict_subclass_record():
    from collections import OrderedDict

    return Echo(feature_names=["a"])([OrderedDict(a=1, b=2)])


@case()
def legacy_initialize_reruns_initialize():
    class Counting(InferenceBackend):
        calls = 0

        def initialize(self):
            type(self).calls += 1

        def execute(self, inputs):
            return inputs

    Counting()._initialize()
    return Counting.calls
