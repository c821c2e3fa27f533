"""``packflow.utils.normalize``: native-type conversion and output records."""

from __future__ import annotations

from compat_cases._registry import case


def _native(value):
    from packflow.utils import ensure_native_types

    return ensure_native_types(value)


@case()
def native_scalars():
    return [_native(v) for v in (1, 2.5, "s", True, None)]


@case()
def native_containers():
    return _native({"a": (1, 2), "b": [{"c": {3}}], "d": {"e": None}})


@case()
def native_numpy():
    import numpy as np

    return _native({"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(4).reshape(2, 2),
                    "s": np.str_("x")})


@case(differs="normalize-new-types")
def native_numpy_types_exact():
    import numpy as np

    out = _native([np.int32(1), np.float64(2.0), np.array([1.5])])
    return [type(out[0]).__name__, type(out[1]).__name__, type(out[2]).__name__]


@case()
def native_numpy_nan():
    import numpy as np

    return _native(np.array([1.0, np.nan]))


@case()
def native_pandas():
    import pandas as pd

    return _native({"s": pd.Series([1, 2]), "df": pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})})


@case(differs="normalize-new-types")
def native_pandas_timestamp():
    import pandas as pd

    return _native(pd.Timestamp("2024-01-02T03:04:05"))


@case()
def native_unknown_type():
    class Custom:
        pass

    _native({"x": Custom()})


@case()
def native_unknown_type_message():
    try:
        _native(object())
    except TypeError as exc:
        return "object" in str(exc)


@case()
def native_generator():
    _native(i for i in range(2))


@case()
def valid_output_wraps():
    import numpy as np
    from packflow.utils import ensure_valid_output

    return ensure_valid_output([np.array([0.5]), 3, {"a": np.int64(1)}, [1, 2], "x"])


@case()
def valid_output_parent_key():
    from packflow.utils import ensure_valid_output

    return ensure_valid_output([1, [2]], parent_key="score")


@case()
def valid_output_empty():
    from packflow.utils import ensure_valid_output

    return ensure_valid_output([])


@case()
def valid_output_not_iterable():
    from packflow.utils import ensure_valid_output

    ensure_valid_output(5)


@case()
def valid_output_from_ndarray():
    import numpy as np
    from packflow.utils import ensure_valid_output

    return ensure_valid_output(np.array([[1], [2]]))


# -- handlers ------------------------------------------------------------------------------------

def _handlers():
    from packflow.utils.normalize import handlers

    return handlers


@case()
def handler_package_names():
    h = _handlers()
    return {name: getattr(h, name)().package_name for name in (
        "NumpyTypeHandler", "PandasSeriesHandler", "PandasDataFrameHandler", "TorchScalarHandler",
        "TorchTensorHandler", "PillowImageHandler")}


@case()
def handler_availability():
    """available() says whether the library is installed (the two environments may differ in torch)."""
    import importlib.util

    h = _handlers()

    def installed(package):
        try:
            return importlib.util.find_spec(package) is not None
        except ImportError:
            return False

    return {name: getattr(h, name)().available() == installed(getattr(h, name)().package_name) for name in (
        "NumpyTypeHandler", "PandasSeriesHandler", "PandasDataFrameHandler", "TorchScalarHandler",
        "TorchTensorHandler", "PillowImageHandler")}


@case()
def numpy_handler_is_type_and_convert():
    import numpy as np

    handler = _handlers().NumpyTypeHandler()
    return [handler.is_type(np.float64(1.0)), handler.is_type(1.0), handler.is_type([1]),
            handler.convert(np.array([[1, 2]]))]


@case()
def pandas_handlers():
    import pandas as pd

    h = _handlers()
    series, frame = h.PandasSeriesHandler(), h.PandasDataFrameHandler()
    df = pd.DataFrame({"a": [1]})
    return [series.is_type(pd.Series([1])), series.is_type(df), frame.is_type(df), frame.convert(df),
            series.convert(pd.Series([1.5]))]


@case()
def handler_base_abstract():
    from packflow.utils.normalize.base import TypeConversionHandler

    TypeConversionHandler()


@case()
def custom_handler_imported_library():
    from packflow.utils.normalize.base import TypeConversionHandler

    class JsonHandler(TypeConversionHandler):
        @property
        def package_name(self):
            return "json"

        def is_type(self, obj):
            return isinstance(obj, self.module.JSONDecodeError)

        def convert(self, obj):
            return str(obj)

    handler = JsonHandler()
    return [handler.available(), handler.module.__name__, repr(handler)]


@case()
def custom_handler_missing_library():
    from packflow.utils.normalize.base import TypeConversionHandler

    class Missing(TypeConversionHandler):
        package_name = "no_such_library_xyz"

        def is_type(self, obj):
            return False

        def convert(self, obj):
            return obj

    handler = Missing()
    return [handler.available(), handler.module]


@case(differs="handler-lazy-module")
def custom_handler_unimported_library():
    import sys

    from packflow.utils.normalize.base import TypeConversionHandler

    sys.modules.pop("colorsys", None)

    class ColorHandler(TypeConversionHandler):
        package_name = "colorsys"

        def is_type(self, obj):
            return False

        def convert(self, obj):
            return obj

    handler = ColorHandler()
    return [handler.available(), handler.module is not None]


@case()
def native_pil_image():
    from PIL import Image

    image = Image.new("RGB", (2, 2), color=(255, 0, 0))
    return _native({"img": image})


@case()
def native_numpy_object_array():
    import numpy as np

    return _native(np.array(["a", None, 3], dtype=object))


@case(differs="normalize-new-types")
def native_bytes():
    return _native({"b": b"\x00\x01"})


@case(differs="normalize-new-types")
def native_decimal():
    from decimal import Decimal

    return _native(Decimal("1.5"))


@case()
def native_numpy_keys():
    import numpy as np

    return _native({np.int64(1): "a"})


@case()
def valid_output_dict_iterates_keys():
    from packflow.utils import ensure_valid_output

    return ensure_valid_output({"a": 1, "b": 2})
