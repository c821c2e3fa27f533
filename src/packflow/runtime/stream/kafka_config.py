"""librdkafka settings for ``packflow stream --kafka-*``: parsed from a file and ``KEY=VALUE`` pairs, never echoed.

A settings file is either a JSON object (``.json``) or Java-properties style lines ``key=value``
(``#`` and ``!`` start comments), as Kafka tools use. ``--kafka-config KEY=VALUE`` pairs override the
file. Secrets (any key naming a password, secret, token, private key or JAAS/OAuth configuration)
are replaced by ``***`` wherever settings or librdkafka messages are shown.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable

from packflow._redact import add_secret
from packflow.exceptions import ConfigurationError

__all__ = ["KafkaSettingsError", "Redactor", "is_secret", "load_settings", "parse_pairs"]

_SECRET = re.compile(r"password|secret|token|\.key(\.pem)?$|sasl\.jaas|oauthbearer\.config|credentials", re.I)
MASK = "***"


class KafkaSettingsError(ConfigurationError):
    """A librdkafka settings file or ``--kafka-config`` pair is malformed."""


def is_secret(key: str) -> bool:
    """Whether the value of setting ``key`` must never be shown."""
    return bool(_SECRET.search(key))


def parse_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a pair without ``=`` is refused (naming the key, never the value)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = key if key and not is_secret(key) else "<hidden>"
            raise KafkaSettingsError(f"--kafka-config {shown!r} is not KEY=VALUE; e.g. --kafka-config security.protocol=SASL_SSL.")
        out[key] = value.strip()
    return out


def _read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise KafkaSettingsError(f"--kafka-config-file {str(path)!r} does not exist; pass a .properties or .json file.")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:  # the message quotes no value: only the position
            raise KafkaSettingsError(f"--kafka-config-file {str(path)!r} is not valid JSON (line {exc.lineno}).") from None
        if not isinstance(data, dict):
            raise KafkaSettingsError(f"--kafka-config-file {str(path)!r} must hold a JSON object of librdkafka settings.")
        return {str(k): _setting_text(v) for k, v in data.items()}
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    pairs = {}
    for n, line in lines:
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise KafkaSettingsError(f"--kafka-config-file {str(path)!r} line {n} is not key=value.")
        pairs[key.strip()] = value.strip()
    return pairs


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_settings(file: str | None, pairs: Iterable[str]) -> dict[str, str]:
    """The librdkafka settings from ``file`` (optional), overridden by ``KEY=VALUE`` ``pairs``."""
    settings = _read_file(Path(file)) if file else {}
    settings.update(parse_pairs(pairs))
    return settings


class Redactor(logging.Filter):
    """Masks every secret value of a settings dict in text and in log records (librdkafka's too)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__()
        self.secrets = sorted({str(v) for k, v in settings.items() if is_secret(k) and str(v)}, key=len, reverse=True)
        add_secret(*self.secrets)  # masked in every log line and error of the process too
        self.quiet_s = 10.0
        self._seen: dict[str, float] = {}

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def shown(self, settings: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``settings`` safe to print."""
        return {k: (MASK if is_secret(k) else v) for k, v in settings.items()}

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets; drop a message repeated within ``quiet_s`` (librdkafka retries every 50 ms)."""
        text = self(record.getMessage()) if self.secrets else record.getMessage()
        now = record.created
        if now - self._seen.get(text, -1e9) < self.quiet_s:
            return False
        if len(self._seen) > 1000:
            self._seen.clear()
        self._seen[text] = now
        record.msg, record.args = text, None
        return True
