"""The ``packflow`` logger: standard :mod:`logging`, level from ``PACKFLOW_LOG_LEVEL``.

packflow never adds handlers to the root logger or to other libraries' loggers. Configure
logging in your application as usual (``logging.basicConfig(level=logging.INFO)``); the CLI
adds a stderr handler to the ``packflow`` logger only.
"""

from __future__ import annotations

import logging
import os

from packflow.constants import LOG_LEVEL_ENV

__all__ = ["LOGGER_NAME", "apply_log_level_from_env", "get_logger"]

LOGGER_NAME = "packflow"


def apply_log_level_from_env() -> None:
    """Set the ``packflow`` logger's level from ``PACKFLOW_LOG_LEVEL`` (e.g. ``DEBUG``), if set."""
    logger = logging.getLogger(LOGGER_NAME)
    level = os.environ.get(LOG_LEVEL_ENV, "").strip()
    if not level:
        return
    try:
        logger.setLevel(int(level) if level.isdigit() else level.upper())
    except ValueError:
        logger.warning(
            "Ignoring %s=%r: not a logging level such as DEBUG, INFO, WARNING or ERROR.", LOG_LEVEL_ENV, level
        )


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``packflow`` logger, or its child ``packflow.<name>``."""
    root = logging.getLogger(LOGGER_NAME)
    return root.getChild(name) if name else root


apply_log_level_from_env()
