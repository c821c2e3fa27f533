"""Converters for values of optional libraries; each applies only if its library is already imported.

A value can only be a numpy array (or a torch tensor, …) if its library was imported by someone, so
handlers look the module up in ``sys.modules`` instead of importing it: normalising output never
pays the import cost of a library the backend does not use.
"""

from __future__ import annotations

import base64
import io
import sys
from typing import Any, Callable

__all__ = ["HANDLERS", "Handler"]

Handler = tuple[str, Callable[[Any, Any], bool], Callable[[Any, Any], Any]]


def _numpy_is(np: Any, obj: Any) -> bool:
    return isinstance(obj, (np.ndarray, np.generic))


def _numpy_convert(np: Any, obj: Any) -> Any:
    return obj.tolist()


def _pandas_is(pd: Any, obj: Any) -> bool:
    return isinstance(obj, (pd.Series, pd.DataFrame, pd.Timestamp))


def _pandas_convert(pd: Any, obj: Any) -> Any:
    if isinstance(obj, pd.Series):
        return obj.to_list()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj.to_dict("split")


def _torch_is(torch: Any, obj: Any) -> bool:
    return isinstance(obj, torch.Tensor)


def _torch_convert(torch: Any, obj: Any) -> Any:
    tensor = obj.detach().cpu()
    return tensor.item() if tensor.dim() == 0 else tensor.numpy().tolist()


def _pil_is(image_module: Any, obj: Any) -> bool:
    return isinstance(obj, image_module.Image)


def _pil_convert(image_module: Any, obj: Any) -> Any:
    buffer = io.BytesIO()
    obj.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


#: (module name, predicate, converter), most common first.
HANDLERS: list[Handler] = [
    ("numpy", _numpy_is, _numpy_convert),
    ("pandas", _pandas_is, _pandas_convert),
    ("torch", _torch_is, _torch_convert),
    ("PIL.Image", _pil_is, _pil_convert),
]


def convert_foreign(obj: Any) -> tuple[bool, Any]:
    """(True, converted) when a loaded library's handler recognises ``obj``, else (False, None)."""
    modules = sys.modules
    for name, is_type, convert in HANDLERS:
        module = modules.get(name)
        if module is not None and is_type(module, obj):
            return True, convert(module, obj)
    return False, None
