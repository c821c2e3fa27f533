"""Backends the serve tests run (importable as ``serve_backends:Name`` from this folder)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from packflow import InferenceBackend

#: Environment variable: a file whose existence lets ``Gated.initialize()`` finish.
GATE_ENV = "PACKFLOW_TEST_GATE"
#: Environment variable: milliseconds ``Slow.execute`` sleeps per batch.
SLOW_ENV = "PACKFLOW_TEST_SLOW_MS"


class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs


class Poison(InferenceBackend):
    """Fails any batch holding a record with ``"poison": true``; otherwise adds ``"seen": true``."""

    def execute(self, inputs):
        if any(r.get("poison") is True for r in inputs):
            raise ValueError("poison record")
        return [{**r, "seen": True} for r in inputs]


class Slow(InferenceBackend):
    """Identity that sleeps ``PACKFLOW_TEST_SLOW_MS`` (default 30) per batch, and fails poison records."""

    def initialize(self):
        self.delay = float(os.environ.get(SLOW_ENV, "30")) / 1000.0

    def execute(self, inputs):
        time.sleep(self.delay)
        if any(r.get("poison") is True for r in inputs):
            raise ValueError("poison record")
        return inputs


class Gated(InferenceBackend):
    """``initialize()`` blocks until the file named by ``PACKFLOW_TEST_GATE`` exists (at most 60 s)."""

    def initialize(self):
        gate = Path(os.environ[GATE_ENV])
        deadline = time.monotonic() + 60
        while not gate.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate file {gate} never appeared")
            time.sleep(0.02)

    def execute(self, inputs):
        return inputs


class BrokenInit(InferenceBackend):
    def initialize(self):
        raise RuntimeError("model weights missing: /nonexistent/model.bin")

    def execute(self, inputs):
        return inputs


class NotReady(InferenceBackend):
    def ready(self):
        return False

    def execute(self, inputs):
        return inputs


class Numpy(InferenceBackend):
    """Returns numpy values (encoded by the server) and, for ``"bad": true``, an unencodable object."""

    def execute(self, inputs):
        return [{"v": np.float32(1.5), "a": np.arange(3), "obj": object()} if r.get("bad") else {"v": np.int64(2)} for r in inputs]


class Sleepy(InferenceBackend):
    """Identity; a record ``{"sleep": s}`` makes its batch sleep ``s`` seconds (a hanging record)."""

    def execute(self, inputs):
        for r in inputs:
            if r.get("sleep"):
                time.sleep(float(r["sleep"]))
        return inputs


class Exiting(InferenceBackend):
    """A record's ``"raise"`` field: ``exit`` raises SystemExit, ``interrupt`` KeyboardInterrupt,
    ``base`` a bare BaseException, ``kill`` ends the process with ``os._exit(3)``."""

    def execute(self, inputs):
        for r in inputs:
            how = r.get("raise")
            if how == "exit":
                raise SystemExit(3)
            if how == "interrupt":
                raise KeyboardInterrupt()
            if how == "base":
                raise BaseException("not an Exception")
            if how == "kill":
                os._exit(3)
        return inputs


#: Environment variable: seconds ``SlowReady.ready()`` sleeps.
READY_SLEEP_ENV = "PACKFLOW_TEST_READY_SLEEP_S"


class SlowReady(InferenceBackend):
    """``ready()`` sleeps ``PACKFLOW_TEST_READY_SLEEP_S`` seconds (default 3) before answering True."""

    def ready(self):
        time.sleep(float(os.environ.get(READY_SLEEP_ENV, "3")))
        return True

    def execute(self, inputs):
        return inputs


class ExitingReady(InferenceBackend):
    """``ready()`` raises SystemExit."""

    def ready(self):
        raise SystemExit(4)

    def execute(self, inputs):
        return inputs


class ExitingInit(InferenceBackend):
    """``initialize()`` raises SystemExit."""

    def initialize(self):
        raise SystemExit("weights volume not mounted")

    def execute(self, inputs):
        return inputs


#: Environment variable: a folder where ``ReadyLateInOneWorker`` processes claim who loaded first.
CLAIM_ENV = "PACKFLOW_TEST_CLAIM_DIR"


class ReadyLateInOneWorker(InferenceBackend):
    """Identity. The first process to load it is ready at once; every later one only once the gate file exists."""

    def initialize(self):
        try:
            os.close(os.open(os.path.join(os.environ[CLAIM_ENV], "first"), os.O_CREAT | os.O_EXCL))
            self.early = True
        except FileExistsError:
            self.early = False

    def ready(self):
        return self.early or Path(os.environ[GATE_ENV]).exists()

    def execute(self, inputs):
        return inputs
