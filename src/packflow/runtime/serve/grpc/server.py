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


async def start_grpc_server(models: Mapping[str, ServedModel], config: Any) -> Any:
    """A started ``grpc.aio`` server for ``models`` on ``config.host:config.grpc_port`` (workers share the port).

    It takes the HTTP port's TLS/mTLS and API-key settings (see :mod:`.security`), and
    ``--max-body-bytes`` as its largest request message (gRPC's own default is 4 MiB): a larger one
    is ``RESOURCE_EXHAUSTED`` before it is decoded.
    """
    require_grpc_extra()
    import grpc

    from packflow.runtime.serve.grpc.security import bind_port
    from packflow.runtime.serve.grpc.service import InferenceService, create_handler

    options = [("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", config.max_body_bytes)]  # as HTTP bodies
    server = grpc.aio.server(options=options, interceptors=_interceptors(models, config))
    server.add_generic_rpc_handlers((create_handler(InferenceService(models)),))
    host, port = config.host, config.grpc_port
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = bind_port(server, address, config)
    if bound == 0:
        raise OSError(f"Cannot listen for gRPC on {address}; choose another --grpc-port.")
    await server.start()
    scheme = "TLS" if config.ssl_certfile else "plaintext"
    logger.info("gRPC (Open Inference Protocol, %s) on %s:%s", scheme, host, bound)
    return server


def _interceptors(models: Mapping[str, ServedModel], config: Any) -> list[Any]:
    """The API-key check when the server has keys (the same keys as the HTTP port)."""
    from packflow.runtime.serve.auth import ApiKeys

    keys = ApiKeys.from_options(config.api_keys_file)
    if keys is None:
        return []
    from packflow.runtime.serve.grpc.security import ApiKeyInterceptor

    first = next(iter(models.values()), None)
    registry = getattr(getattr(first, "metrics", None), "registry", None)
    return [ApiKeyInterceptor(keys, probes_open=config.auth_probes == "open", registry=registry)]
