"""Converters for values of optional libraries (numpy, pandas, torch, PIL); none is imported here."""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import math
from typing import Any

from packflow.utils.normalize.base import TypeConversionHandler

__all__ = [
    "HANDLERS",
    "NumpyTypeHandler",
    "PandasDataFrameHandler",
    "PandasExtensionArrayHandler",
    "PandasMissingHandler",
    "PandasSeriesHandler",
    "PandasTimestampHandler",
    "PillowImageHandler",
    "TorchScalarHandler",
    "TorchTensorHandler",
    "convert_builtin",
    "convert_foreign",
]


class NumpyTypeHandler(TypeConversionHandler):
    """numpy arrays and scalars → lists and Python scalars."""

    package_name = "numpy"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        np = self.module
        return isinstance(obj, (np.ndarray, np.generic))  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.tolist()


class PandasSeriesHandler(TypeConversionHandler):
    """pandas Series → list."""

    package_name = "pandas"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.Series)  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.to_list()


class PandasDataFrameHandler(TypeConversionHandler):
    """pandas DataFrame → ``to_dict("split")``."""

    package_name = "pandas"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.DataFrame)  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.to_dict("split")


class PandasTimestampHandler(TypeConversionHandler):
    """pandas Timestamp → ISO 8601 string."""

    package_name = "pandas"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.Timestamp)  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.isoformat()


class PandasMissingHandler(TypeConversionHandler):
    """pandas' missing-value markers ``pd.NA`` and ``pd.NaT`` → None."""

    package_name = "pandas"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        pd = self.module
        return obj is pd.NA or obj is pd.NaT  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return None


class PandasExtensionArrayHandler(TypeConversionHandler):
    """pandas extension arrays (nullable ``Int64``, ``boolean``, ``string``, …) and Index → list."""

    package_name = "pandas"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        pd = self.module
        return isinstance(obj, (pd.api.extensions.ExtensionArray, pd.Index))  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.tolist()


class TorchScalarHandler(TypeConversionHandler):
    """A one-element torch tensor → Python scalar (as in packflow 0.4)."""

    package_name = "torch"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.Tensor) and obj.numel() == 1  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.item()


class TorchTensorHandler(TypeConversionHandler):
    """torch tensor → nested lists."""

    package_name = "torch"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.Tensor)  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        return obj.detach().cpu().tolist()  # tolist(), not numpy(): bfloat16 has no numpy dtype


class PillowImageHandler(TypeConversionHandler):
    """PIL image → base64-encoded PNG string."""

    package_name = "PIL.Image"  # type: ignore[assignment]

    def is_type(self, obj: Any) -> bool:
        return isinstance(obj, self.module.Image)  # type: ignore[union-attr]

    def convert(self, obj: Any) -> Any:
        buffer = io.BytesIO()
        obj.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode("ascii")


#: Handlers in priority order (most common first).
HANDLERS: list[TypeConversionHandler] = [
    NumpyTypeHandler(),
    PandasSeriesHandler(),
    PandasDataFrameHandler(),
    PandasTimestampHandler(),
    PandasMissingHandler(),
    PandasExtensionArrayHandler(),
    TorchScalarHandler(),
    TorchTensorHandler(),
    PillowImageHandler(),
]


def convert_foreign(obj: Any) -> tuple[bool, Any]:
    """(True, converted) when a loaded library's handler recognises ``obj``, else (False, None)."""
    for handler in HANDLERS:
        if handler.handles(obj):
            return True, handler.convert(obj)
    return False, None


def _decimal(value: decimal.Decimal) -> Any:
    if not value.is_finite():
        return None  # NaN and infinities become null, the one rule for non-finite numbers
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def convert_builtin(obj: Any) -> tuple[bool, Any]:
    """(True, converted) for standard-library values JSON has no type for, else (False, None).

    ``bytes``/``bytearray``/``memoryview`` → standard base64 text (padded); ``Decimal`` → int when
    integral, else the nearest float; ``datetime``/``date``/``time`` → ISO 8601 text.
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True, base64.b64encode(bytes(obj)).decode("ascii")
    if isinstance(obj, decimal.Decimal):
        return True, _decimal(obj)
    if isinstance(obj, (datetime.date, datetime.time)):
        return True, obj.isoformat()
    return False, None
