"""The debug log of the resolved backend configuration never shows secret-looking values."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from packflow import BackendConfig, InferenceBackend
from packflow.logger import get_logger


class _Config(BackendConfig):
    db_password: str = ""
    api_token: SecretStr = SecretStr("")
    nested: dict = {}
    threshold: float = 0.5


class _Backend(InferenceBackend):
    backend_config_model = _Config

    def execute(self, inputs):
        return inputs


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_secret_looking_config_values_are_masked_in_the_debug_log():
    logger = get_logger()  # its own handler: other tests may have set its level or stopped propagation
    handler, level = _Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        _Backend(db_password="hunter2-pw", api_token="tok-123456", nested={"aws": {"secret_access_key": "AKIA-s3cr3t"}},
                 threshold=0.75)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [line for line in handler.lines if "Backend configuration" in line]
    assert lines, "the resolved configuration is logged at DEBUG"
    text = "\n".join(lines)
    for secret in ("hunter2-pw", "tok-123456", "AKIA-s3cr3t"):
        assert secret not in text
    assert "0.75" in text and "'db_password': '***'" in text
