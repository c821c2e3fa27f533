"""The ecosystem protocols mounted beside ``/invoke``: Open Inference Protocol REST and KServe V1."""

from __future__ import annotations

from typing import Mapping

from starlette.routing import Route

from packflow.runtime.serve.kserve_v1 import v1_routes
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.v2 import v2_routes

__all__ = ["protocol_routes"]


def protocol_routes(models: Mapping[str, ServedModel], limit: int) -> list[Route]:
    """Every protocol route over ``models`` (name → model); ``limit`` is the body size limit in bytes."""
    return [*v2_routes(models, limit), *v1_routes(models, limit)]
