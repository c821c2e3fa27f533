"""The credentials this process was given, masked in every log line and error message it prints.

Drivers register each secret when they read it (:func:`add_secret`): Kafka's password/secret/key
settings (``--kafka-config``, ``--kafka-config-file``), the password of a ``--redis-url``. The CLI's
log handler carries :class:`MaskFilter`, so a secret is replaced by ``***`` whichever logger wrote
the line, in text and JSON formats alike, exception text included; ``cli._common.fail`` masks
error messages the same way. Masking by value is the backstop behind each driver's own care not to
print settings (``kafka_config.Redactor``, ``redis_security.redact_url``).
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

__all__ = ["MASK", "MaskFilter", "add_secret", "mask"]

MASK = "***"
_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole


def add_secret(*values: str | None) -> None:
    """Never show these values (empty ones are ignored)."""
    global _secrets
    new = {v for v in values if v}
    if not new:
        return
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | new, key=len, reverse=True))


def mask(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every registered secret (or every one of ``secrets``) replaced by ``***``."""
    for secret in _secrets if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class MaskFilter(logging.Filter):
    """Mask registered secrets in a record's message and exception text before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets
        if not secrets:
            return True
        record.msg, record.args = mask(record.getMessage(), secrets), None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text, secrets)
        return True
