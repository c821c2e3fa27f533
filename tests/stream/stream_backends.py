"""Backends the stream tests run (loaded by file path: ``stream_backends:Name``)."""

from __future__ import annotations

import os
import time
from typing import Any

from packflow import InferenceBackend


class Identity(InferenceBackend):
    """Returns its inputs unchanged."""

    def execute(self, inputs: Any) -> Any:
        return inputs


class Poison(InferenceBackend):
    """Fails on any batch holding a record with ``"poison": true``; tags outputs with the pid."""

    def execute(self, inputs: Any) -> Any:
        delay = float(os.environ.get("PACKFLOW_TEST_DELAY_S", "0"))
        if delay:
            time.sleep(delay)
        for record in inputs:
            if record.get("poison"):
                raise ValueError(f"poison record {record.get('i')}")
        pid = os.getpid()
        return [{**record, "pid": pid} for record in inputs]


class Unencodable(InferenceBackend):
    """Returns a value orjson cannot encode for records with ``"bad": true``."""

    def execute(self, inputs: Any) -> Any:
        return [{"out": object()} if r.get("bad") else dict(r) for r in inputs]
