"""``packflow.utils``: flattening, nested access, delimiter collisions, records -> ndarray."""

from __future__ import annotations

from compat_cases._registry import case

DOC = {"a": {"b": 1, "c": {"d": 2}}, "e": [1, {"f": 3}], "g": {}, "h": None}


def _u():
    import packflow.utils

    return packflow.utils


@case()
def flatten_dict_default():
    return _u().flatten_dict(DOC)


@case()
def flatten_dict_lists():
    return _u().flatten_dict(DOC, flatten_lists=True)


@case()
def flatten_dict_delimiter():
    return _u().flatten_dict(DOC, delimiter="__")


@case()
def flatten_dict_empty():
    return _u().flatten_dict({})


@case()
def flatten_dict_not_dict():
    _u().flatten_dict([("a", 1)])


@case()
def flatten_dict_duplicate():
    _u().flatten_dict({"a.b": 1, "a": {"b": 2}})


@case()
def flatten_records_many():
    return _u().flatten_records([DOC, {"x": {"y": 1}}])


@case()
def flatten_records_empty():
    return _u().flatten_records([])


@case()
def flatten_records_not_list():
    _u().flatten_records({"a": 1})


@case()
def flatten_records_item_not_dict():
    _u().flatten_records([{"a": 1}, 2])


@case()
def collisions_none():
    return _u().check_delimiter_collisions(DOC, ".")


@case()
def collisions_found_with_paths():
    return _u().check_delimiter_collisions({"a.b": 1, "c": {"d.e": {"f.g": 2}}}, ".")


@case()
def collisions_other_delimiter():
    return _u().check_delimiter_collisions({"a.b": 1, "c/d": 2}, "/")


@case(differs="non-string-keys")
def collisions_int_keys():
    return _u().check_delimiter_collisions({1: "x", "a.b": 2}, ".")


@case()
def get_nested_field_paths():
    u = _u()
    return [u.get_nested_field(DOC, "a.b"), u.get_nested_field(DOC, "a.c.d"), u.get_nested_field(DOC, "a.c"),
            u.get_nested_field(DOC, "a"), u.get_nested_field(DOC, "zz"), u.get_nested_field(DOC, "g"),
            u.get_nested_field(DOC, "e.0"), u.get_nested_field(DOC, "h")]


@case()
def get_nested_field_delimiter():
    return [_u().get_nested_field({"a": {"b": 1}}, "a/b", delimiter="/"), _u().get_nested_field({"a": {"b": 1}}, "a/b")]


@case()
def get_nested_field_dotted_top_level_key():
    u = _u()
    doc = {"x.y": {"z": 5}, "p": {"q.r": 1}}
    return [u.get_nested_field(doc, "x.y.z"), u.get_nested_field(doc, "x.y"), u.get_nested_field(doc, "p.q.r")]


@case()
def get_nested_field_literal_key_wins():
    return _u().get_nested_field({"a.b": "literal", "a": {"b": "nested"}}, "a.b")


@case(differs="flatten-collision-lookup")
def get_nested_field_colliding_record():
    return _u().get_nested_field({"a.b": "literal", "a": {"b": "nested"}, "x": {"y": 5}}, "x.y")


@case()
def get_nested_field_dotted_inner_key():
    return _u().get_nested_field({"a": {"b.c": 1}}, "a.b.c")


@case()
def get_nested_field_direct_paths():
    u = _u()
    return [u.get_nested_field_direct(DOC, "a.b"), u.get_nested_field_direct(DOC, "a.c"),
            u.get_nested_field_direct(DOC, "e.0"), u.get_nested_field_direct(DOC, "nope.x"),
            u.get_nested_field_direct({"a.b": 1, "a": {"b": 2}}, "a.b"), u.get_nested_field_direct(DOC, "h.x")]


@case()
def get_nested_field_direct_delimiter():
    return _u().get_nested_field_direct({"a": {"b": 1}}, "a::b", "::")


@case()
def set_nested_field_direct_creates():
    out = {}
    _u().set_nested_field_direct(out, "a.b.c", 1)
    _u().set_nested_field_direct(out, "a.d", 2)
    _u().set_nested_field_direct(out, "top", 3)
    return out


@case()
def set_nested_field_direct_blocked():
    out = {"a": 5, "n": None}
    _u().set_nested_field_direct(out, "a.b", 1)
    _u().set_nested_field_direct(out, "n.b", 1)
    return out


@case()
def set_nested_field_direct_delimiter():
    out = {}
    _u().set_nested_field_direct(out, "a/b", 1, delimiter="/")
    return out


@case()
def ndarray_basic():
    return _u().records_to_ndarray([{"a": 1, "b": 2}, {"a": 3, "b": 4}], ["b", "a"])


@case()
def ndarray_dtype():
    return _u().records_to_ndarray([{"a": 1}, {"a": 2}], ["a"], dtype="float32")


@case()
def ndarray_nested():
    return _u().records_to_ndarray([{"a": {"b": 1}}, {"a": {"b": 2}}], ["a.b"])


@case()
def ndarray_nested_delimiter():
    return _u().records_to_ndarray([{"a": {"b": 1}, "a.b": 9}], ["a/b", "a.b"], delimiter="/")


@case()
def ndarray_dotted_top_level_key():
    return _u().records_to_ndarray([{"a.b": 1, "a": {"b": 2}}, {"a.b": 3, "a": {"b": 4}}], ["a.b"])


@case()
def ndarray_empty_records():
    return _u().records_to_ndarray([], ["a", "b"])


@case()
def ndarray_empty_records_dtype():
    return _u().records_to_ndarray([], ["a"], dtype="int32")


@case()
def ndarray_no_features():
    return _u().records_to_ndarray([{"a": 1}, {"a": 2}], [])


@case(differs="numpy-missing")
def ndarray_missing_values():
    return _u().records_to_ndarray([{"a": 1}, {"b": 2}], ["a"])


@case()
def ndarray_strings():
    return _u().records_to_ndarray([{"a": "x"}, {"a": "yy"}], ["a"])


@case()
def ndarray_not_list():
    _u().records_to_ndarray({"a": 1}, ["a"])


@case("index 1")
def ndarray_item_not_dict():
    _u().records_to_ndarray([{"a": 1}, [1]], ["a"])


@case()
def ndarray_tuple_records():
    _u().records_to_ndarray(({"a": 1},), ["a"])


@case()
def flatten_dict_int_keys():
    return _u().flatten_dict({1: {2: 3}, "x": 4})


@case()
def collisions_path_prefix():
    return _u().check_delimiter_collisions({"a.b": 1, "c": {"d.e": 2}}, ".", "root")


@case()
def ndarray_feature_tuple_and_object_dtype():
    return _u().records_to_ndarray([{"a": 1, "b": "x"}], ("a", "b"), dtype="object")


@case()
def get_nested_field_falsy_values():
    doc = {"a": {"zero": 0, "empty": "", "false": False}}
    return [_u().get_nested_field(doc, "a.zero"), _u().get_nested_field(doc, "a.empty"),
            _u().get_nested_field(doc, "a.false")]
