"""The protocol's message classes, built at import from the compiled descriptor in a private pool.

A private ``DescriptorPool`` keeps these ``inference.*`` messages apart from any other copy of the
protocol in the process (tritonclient's and kserve's register the same names in the default pool).
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from packflow.runtime.serve.grpc._descriptor import SERIALIZED

__all__ = ["SERVICE", "message"]

SERVICE = "inference.GRPCInferenceService"
_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(SERIALIZED)))
_CLASSES: dict[str, Any] = {}


def message(name: str) -> Any:
    """The class of message ``inference.<name>`` (e.g. ``message("ModelInferRequest")``)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = _CLASSES[name] = message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"inference.{name}"))
    return cls


def methods() -> dict[str, tuple[Any, Any]]:
    """Each RPC of the service: name → (request class, response class)."""
    service = _POOL.FindServiceByName(SERVICE)
    return {m.name: (message(m.input_type.name), message(m.output_type.name)) for m in service.methods}
