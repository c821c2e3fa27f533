"""The debug log of the resolved backend configuration never shows secret-looking values."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from packflow import BackendConfig, InferenceBackend


class _Config(BackendConfig):
    db_password: str = ""
    api_token: SecretStr = SecretStr("")
    nested: dict = {}
    threshold: float = 0.5


class _Backend(InferenceBackend):
    backend_config_model = _Config

    def execute(self, inputs):
        return inputs


def test_secret_looking_config_values_are_masked_in_the_debug_log(caplog):
    with caplog.at_level(logging.DEBUG):
        _Backend(db_password="hunter2-pw", api_token="tok-123456", nested={"aws": {"secret_access_key": "AKIA-s3cr3t"}},
                 threshold=0.75)
    lines = [r.getMessage() for r in caplog.records if "Backend configuration" in r.getMessage()]
    assert lines, "the resolved configuration is logged at DEBUG"
    text = "\n".join(lines)
    for secret in ("hunter2-pw", "tok-123456", "AKIA-s3cr3t"):
        assert secret not in text
    assert "0.75" in text and "'db_password': '***'" in text
