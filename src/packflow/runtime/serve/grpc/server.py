"""Starting and stopping the gRPC server beside the HTTP one, on the same event loop."""

from __future__ import annotations

from typing import Any, Mapping

from packflow.logger import get_logger
from packflow.runtime.serve.served import ServedModel

__all__ = ["GRPC_EXTRA_HINT", "start_grpc_server"]

logger = get_logger("serve")
GRPC_EXTRA_HINT = "pip install 'packflow[grpc]'"


def require_grpc_extra() -> None:
    """Raise an ImportError naming the extra when grpcio or protobuf is missing."""
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"--grpc-port needs grpcio and protobuf: {GRPC_EXTRA_HINT} ({exc})") from exc


async def start_grpc_server(models: Mapping[str, ServedModel], host: str, port: int) -> Any:
    """A started ``grpc.aio`` server for ``models`` on ``host:port`` (several workers share the port)."""
    require_grpc_extra()
    import grpc

    from packflow.runtime.serve.grpc.service import InferenceService, create_handler

    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    server.add_generic_rpc_handlers((create_handler(InferenceService(models)),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"Cannot listen for gRPC on {address}; choose another --grpc-port.")
    await server.start()
    logger.info("gRPC (Open Inference Protocol) on %s:%s", host, bound)
    return server
