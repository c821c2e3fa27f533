"""The built-in preprocessors, as a backend runs them and as classes."""

from __future__ import annotations

from compat_cases._registry import case
from packflow import InferenceBackend


class Echo(InferenceBackend):
    def execute(self, inputs):
        return inputs


class ArrayOut(InferenceBackend):
    """Reports what the preprocessor handed to execute() (one output per input, as the contract asks)."""

    def execute(self, inputs):
        return [{"seen": inputs} for _ in range(len(inputs))]


def _seen(batch, **config):
    return ArrayOut(**config)(batch)[0]["seen"]


NESTED = [{"a": {"b": 1, "c": {"d": 2}}, "e": 3, "l": [1, 2]}, {"a": {"b": 4, "c": {"d": 5}}, "e": 6, "l": []}]


def _pre(**config):
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.preprocessors import get_preprocessor

    return get_preprocessor(BackendConfig(**config))


@case()
def factory_classes():
    return {fmt: type(_pre(input_format=fmt, feature_names=["a"])).__name__ for fmt in ("passthrough", "records", "numpy")}


@case()
def preprocessor_base_abstract():
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.preprocessors import Preprocessor

    Preprocessor(BackendConfig())


@case()
def custom_preprocessor_subclass():
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.preprocessors import Preprocessor

    class Upper(Preprocessor):
        def resolve(self):
            self.key = "a"

        def process(self, raw_inputs):
            return [{k.upper(): v for k, v in r.items()} for r in raw_inputs]

    return Upper(BackendConfig())([{"a": 1}])


@case("Failed to preprocess inputs", "bad record")
def custom_preprocessor_failure():
    from packflow.backend.configuration import BackendConfig
    from packflow.backend.preprocessors import Preprocessor

    class Broken(Preprocessor):
        def resolve(self):
            return None

        def process(self, raw_inputs):
            raise ValueError("bad record")

    Broken(BackendConfig())([{"a": 1}])


@case()
def passthrough_returns_same_object():
    batch = [{"a": 1}]
    return _pre(input_format="passthrough")(batch) is batch


@case()
def records_passthrough_flag():
    return [_pre().passthrough, _pre(feature_names=["a"]).passthrough, _pre(flatten_nested_inputs=True).passthrough]


@case()
def records_feature_selection_order():
    return Echo(feature_names=["e", "a.b"])(NESTED)


@case()
def records_rename():
    return Echo(rename_fields={"e": "E", "a.c.d": "deep"})(NESTED)


@case()
def records_rename_and_select():
    return Echo(rename_fields={"e": "E"}, feature_names=["E", "a.b"])(NESTED)


@case()
def records_rename_to_nested_target():
    return Echo(rename_fields={"e": "out.e"})(NESTED)


@case()
def records_flatten():
    return Echo(flatten_nested_inputs=True)(NESTED)


@case()
def records_flatten_lists():
    return Echo(flatten_nested_inputs=True, flatten_lists=True)(NESTED)


@case()
def records_flatten_custom_delimiter():
    return Echo(flatten_nested_inputs=True, nested_field_delimiter="/", feature_names=["a/c/d", "e"])(NESTED)


@case()
def records_flatten_select():
    return Echo(flatten_nested_inputs=True, feature_names=["a.c.d", "l"])(NESTED)


@case()
def records_missing_and_none_skipped():
    return Echo(feature_names=["a", "b", "c.d"])([{"a": None, "b": 0}, {"c": {"d": None}}, {}])


@case()
def records_empty_containers_kept():
    return Echo(flatten_nested_inputs=True)([{"a": {}, "b": [], "c": {"d": {}}}])


@case("Keys containing the delimiter", "ignore_delimiter_collisions=True")
def records_delimiter_collision():
    Echo(feature_names=["a.b"])([{"a.b": 1, "x": 2}])


@case("Keys containing the delimiter")
def records_delimiter_collision_nested_key():
    Echo(rename_fields={"meta.id": "id"})([{"meta": {"x.y": 1, "id": 2}}])


@case()
def records_delimiter_collision_ignored():
    return Echo(feature_names=["a.b"], ignore_delimiter_collisions=True)([{"a.b": 1, "x": 2}])


@case()
def records_dotted_key_without_nested_paths():
    return Echo(feature_names=["x"])([{"a.b": 1, "x": 2}])


@case()
def records_dotted_key_other_delimiter():
    return Echo(feature_names=["a.b", "m/n"], nested_field_delimiter="/")([{"a.b": 1, "m": {"n": 2}}])


@case()
def records_literal_key_beats_path():
    return Echo(feature_names=["a.b"], ignore_delimiter_collisions=True)([{"a.b": "literal", "a": {"b": "nested"}}])


@case()
def records_flatten_duplicate_key():
    Echo(flatten_nested_inputs=True)([{"a.b": 1, "a": {"b": 2}}])


@case()
def records_flatten_dotted_key_kept():
    return Echo(flatten_nested_inputs=True, feature_names=["a.b"])([{"a.b": 1}])


@case()
def records_non_dict_record():
    Echo(feature_names=["a"])([{"a": 1}, "text"])


@case()
def records_process_method():
    return _pre(feature_names=["a"]).process([{"a": 1, "b": 2}])


@case()
def records_uses_nested_paths():
    return [_pre(feature_names=["a.b"])._uses_nested_paths(), _pre(feature_names=["a"])._uses_nested_paths(),
            _pre(rename_fields={"x.y": "z"})._uses_nested_paths()]


@case("Keys containing the delimiter")
def records_check_collisions_method():
    _pre(feature_names=["a.b"])._check_for_delimiter_collisions({"k.j": 1})


@case()
def records_check_collisions_method_clean():
    return _pre(feature_names=["a.b"])._check_for_delimiter_collisions({"k": {"j": 1}})


# -- numpy --------------------------------------------------------------------------------------

@case()
def numpy_needs_feature_names():
    Echo(input_format="numpy")


@case()
def numpy_features_attribute():
    return _pre(input_format="numpy", feature_names=["x", "b"], rename_fields={"a.b": "b"}).features


@case()
def numpy_basic():
    return _seen([{"x": 1, "y": 2.5}, {"x": 3, "y": 4.0}], input_format="numpy", feature_names=["y", "x"])


@case(differs="numpy-dtype")
def numpy_ints():
    return _seen([{"x": 1, "y": 2}, {"x": 3, "y": 4}], input_format="numpy", feature_names=["x", "y"])


@case(differs="numpy-dtype")
def numpy_nested_and_renamed():
    return _seen(NESTED, input_format="numpy", feature_names=["a.c.d", "E"], rename_fields={"e": "E"})


@case(differs="numpy-missing")
def numpy_missing_value():
    return _seen([{"x": 1, "y": 2}, {"x": 3}], input_format="numpy", feature_names=["x", "y"])


@case(differs="numpy-dtype")
def numpy_strings():
    return _seen([{"x": 1, "s": "a"}, {"x": 2, "s": "b"}], input_format="numpy", feature_names=["x", "s"])


@case(differs="numpy-dtype")
def numpy_bools():
    return _seen([{"b": True}, {"b": False}], input_format="numpy", feature_names=["b"])


@case(differs="numpy-dtype")
def numpy_empty_batch():
    return _pre(input_format="numpy", feature_names=["x", "y"])([])


@case()
def numpy_non_dict_record():
    _seen([{"x": 1}, 5], input_format="numpy", feature_names=["x"])
