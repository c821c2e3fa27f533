"""The ``packflow`` logger: standard :mod:`logging`, level from ``PACKFLOW_LOG_LEVEL``."""

from __future__ import annotations

import logging
import os

from packflow.constants import LOG_LEVEL_ENV

LOGGER_NAME = "packflow"
_configured = False


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``packflow`` logger (or a child), applying ``PACKFLOW_LOG_LEVEL`` on first use."""
    global _configured
    root = logging.getLogger(LOGGER_NAME)
    if not _configured:
        _configured = True
        level = os.environ.get(LOG_LEVEL_ENV)
        if level:
            try:
                root.setLevel(level.strip().upper())
            except ValueError:
                root.warning("Ignoring %s=%r: not a logging level name such as DEBUG or INFO.", LOG_LEVEL_ENV, level)
    return root.getChild(name) if name else root
