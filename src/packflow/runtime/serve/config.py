"""``ServeConfig``: every setting of one server, passed to worker processes as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from packflow.exceptions import ConfigurationError

__all__ = ["ServeConfig"]

#: Environment variable carrying a worker's ``ServeConfig`` as JSON.
SERVE_CONFIG_ENV = "PACKFLOW_SERVE_CONFIG"
_FLOAT_OPTIONS = ("request_timeout_s", "graceful_timeout_s", "max_wait_ms", "ready_timeout_s", "read_timeout_s")


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``packflow serve``; see docs/serve.md for what each one does."""

    target: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    #: Run each backend in an engine child process, so a record that kills its process costs one
    #: request, not the worker (None: only with ``workers > 1``; see runtime/serve/engine.py).
    isolate_process: bool | None = None
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    max_body_bytes: int = 16 * 1024 * 1024
    request_timeout_s: float = 60.0
    graceful_timeout_s: float = 30.0
    max_batch_size: int = 64
    max_wait_ms: float = 0.0
    max_queue: int = 100_000
    ready_sample: str | None = None
    ready_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    log_level: str = "INFO"
    access_log: bool = False
    #: Also serve the Open Inference Protocol over gRPC on this port (None: no gRPC; extra ``grpc``).
    grpc_port: int | None = None
    #: Several models (``NAME=TARGET`` or ``TARGET`` each); empty: serve ``target`` alone.
    models: list[str] = field(default_factory=list)
    # production options (auth, TLS, CORS, log format): see runtime/serve/production.py
    api_keys_file: str | None = None
    auth_probes: str = "open"
    auth_metrics: str = "open"
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_ca_certs: str | None = None
    ssl_client_cert: str = "none"
    cors_origins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        checks = [
            ("workers", self.workers >= 1, ">= 1"),
            ("port", 0 <= self.port <= 65535, "between 0 and 65535"),
            ("max_body_bytes", self.max_body_bytes >= 2, ">= 2"),
            ("request_timeout_s", self.request_timeout_s > 0, "> 0"),
            ("graceful_timeout_s", self.graceful_timeout_s >= 0, ">= 0"),
            ("max_batch_size", self.max_batch_size >= 1, ">= 1"),
            ("max_wait_ms", self.max_wait_ms >= 0, ">= 0"),
            ("max_queue", self.max_queue >= 1, ">= 1"),
            ("ready_timeout_s", self.ready_timeout_s > 0, "> 0"),
            ("read_timeout_s", self.read_timeout_s > 0, "> 0"),
            ("grpc_port", self.grpc_port is None or 0 <= self.grpc_port <= 65535, "between 0 and 65535"),
        ]
        for name in _FLOAT_OPTIONS:
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigurationError(
                    f"serve option {name}={value!r} is invalid; it must be a finite number of "
                    f"{'milliseconds' if name.endswith('_ms') else 'seconds'}, such as 5."
                )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigurationError(f"serve option {name}={getattr(self, name)!r} is invalid; it must be {expected}.")
        from packflow.runtime.serve.production import check_production_options

        check_production_options(self)
        if not isinstance(self.backend_kwargs, dict):
            raise ConfigurationError(
                f"--config must be a JSON object of backend settings, got {type(self.backend_kwargs).__name__}."
            )

    @property
    def uses_engine(self) -> bool:
        """Whether each backend runs in an engine child process (``isolate_process``, default: several workers)."""
        return self.workers > 1 if self.isolate_process is None else self.isolate_process

    def to_json(self) -> str:
        """This configuration as JSON (for a worker process's environment)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """The configuration :meth:`to_json` wrote."""
        return cls(**json.loads(text))
