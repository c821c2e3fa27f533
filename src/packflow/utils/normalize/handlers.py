"""Converters for values of optional libraries (numpy, pandas, torch, PIL); none is imported here."""

from __future__ import annotations

import base64
import io
from typing import Any

from packflow.utils.normalize.base import TypeConversionHandler

__all__ = [
    "HANDLERS",
    "NumpyTypeHandler",
    "PandasDataFrameHandler",
    "PandasSeriesHandler",
    "PandasTimestampHandler",
    "PillowImageHandler",
    "TorchScalarHandler",
    "TorchTensorHandler",
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
        return obj.detach().cpu().numpy().tolist()


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
