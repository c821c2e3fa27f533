"""Entry point of one worker process: ``python -m packflow.runtime.serve.worker`` (started by the launcher)."""

from __future__ import annotations

import os
import socket
import sys

from packflow.runtime.serve.config import SERVE_CONFIG_ENV, ServeConfig
from packflow.runtime.serve.server import SOCKET_FD_ENV, configure_worker_logging, run_worker


def main() -> int:
    """Serve on the inherited socket with the configuration from the environment."""
    config = ServeConfig.from_json(os.environ[SERVE_CONFIG_ENV])
    configure_worker_logging(config.log_level)
    sock = socket.socket(fileno=int(os.environ[SOCKET_FD_ENV]))
    return run_worker(config, sock)


if __name__ == "__main__":
    sys.exit(main())
