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


class Killer(InferenceBackend):
    """Kills its own process (``os._exit``, no clean-up) on a batch holding a record with ``"kill": true``."""

    def execute(self, inputs: Any) -> Any:
        if any(record.get("kill") for record in inputs):
            os._exit(17)
        return [{**record, "pid": os.getpid()} for record in inputs]


class MutatesThenFails(InferenceBackend):
    """Changes every input dict in place, then fails on a batch holding a record with ``"fail": true``."""

    def execute(self, inputs: Any) -> Any:
        failing = any(record.get("fail") for record in inputs)
        for record in inputs:
            record["i"] = "changed by the backend"
            record["injected"] = True
        if failing:
            raise ValueError("a failing record")
        return [dict(record) for record in inputs]


class RaisesBaseException(InferenceBackend):
    """Raises ``SystemExit`` or ``KeyboardInterrupt`` (named by the record's ``"raise"``) from backend code."""

    def execute(self, inputs: Any) -> Any:
        for record in inputs:
            if record.get("raise") == "SystemExit":
                raise SystemExit(3)
            if record.get("raise") == "KeyboardInterrupt":
                raise KeyboardInterrupt
        return [dict(record) for record in inputs]
