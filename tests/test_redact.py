"""``packflow._redact``: a registered credential never reaches a log line, whichever logger or format."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from packflow import _redact
from packflow._logjson import JsonFormatter
from packflow.runtime.stream.redis_security import remember_secrets


@pytest.fixture(autouse=True)
def _fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_redact, "_secrets", ())


def _emit(formatter: logging.Formatter, logger: str, message: str, *args: object, exc: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_redact.MaskFilter())
    log = logging.getLogger(logger)
    log.addHandler(handler)
    log.propagate = False
    try:
        if exc:
            try:
                raise RuntimeError(f"auth failed with {args[0]}")
            except RuntimeError:
                log.exception(message, *args)
        else:
            log.error(message, *args)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("formatter", [logging.Formatter("%(name)s %(message)s"), JsonFormatter()], ids=["text", "json"])
def test_any_logger_and_the_exception_text_are_masked(formatter: logging.Formatter) -> None:
    _redact.add_secret("hunter2-Kafka")
    out = _emit(formatter, "packflow.stream", "consumer error: %s", "SASL hunter2-Kafka", exc=True)
    assert "hunter2-Kafka" not in out and "consumer error: SASL ***" in out and "RuntimeError: auth failed with" in out
    if isinstance(formatter, JsonFormatter):
        assert "***" in json.loads(out)["exception"]


def test_nothing_registered_leaves_records_alone() -> None:
    assert _emit(logging.Formatter("%(message)s"), "packflow.x", "plain %s", "text") == "plain text\n"


def test_redis_url_passwords_are_remembered_raw_and_decoded() -> None:
    remember_secrets("rediss://app:p%40ss-Word@host:6380/0?password=Q-secret")
    assert _redact.mask("p%40ss-Word p@ss-Word Q-secret app") == "*** *** *** app"  # the user name stays


def test_kafka_settings_register_their_secrets() -> None:
    from packflow.runtime.stream.kafka_config import Redactor

    Redactor({"sasl.password": "k-Secret-1", "sasl.username": "svc"})
    assert _redact.mask("login svc with k-Secret-1") == "login svc with ***"


WORDS = st.text(alphabet="abAB12@%-_:/", min_size=1, max_size=12)


@given(st.lists(WORDS, min_size=1, max_size=4), st.text(alphabet="ab1 :@", max_size=30))
def test_no_registered_secret_survives_masking(secrets: list[str], filler: str) -> None:
    _redact._secrets = ()
    _redact.add_secret(*secrets)
    masked = _redact.mask(filler.join(secrets) + filler + "".join(reversed(secrets)))
    assert not [secret for secret in secrets if secret in masked]
