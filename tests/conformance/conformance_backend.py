"""The one backend of the conformance matrix: each record's ``do`` field picks its misbehaviour.

Loaded by every driver column by the same target, ``conformance_backend:Conformance`` (tests run
the CLI with this folder as the working directory).
"""

from __future__ import annotations

import os
import time

from packflow import InferenceBackend

HANG_S = float(os.environ.get("PACKFLOW_CONFORMANCE_HANG_S", "20"))


class Conformance(InferenceBackend):
    """``{"id": i, "y": 2x}`` per record; ``do`` = poison, bad_index, exit, hang, sysexit, nan,
    unencodable, drop (one output too few) or mutate (tampers with every input, then fails)."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        for record in inputs:
            self._misbehave(record.get("do"))
        outputs = [{"id": r["id"], "y": _y(r)} for r in inputs]
        if any(r.get("do") == "mutate" for r in inputs):
            for record in inputs:  # a contract violation: retries must not see this
                record.pop("x", None)
                record["tampered"] = True
            raise ValueError("tampered with the inputs, then failed")
        if any(r.get("do") == "drop" for r in inputs):
            outputs = [o for o, r in zip(outputs, inputs) if r.get("do") != "drop"]
        return outputs

    @staticmethod
    def _misbehave(do: object) -> None:
        if do == "poison":
            raise ValueError("poison record")
        if do == "bad_index":
            error = ValueError("poison record with a bogus record_index")
            error.record_index = "three"  # type: ignore[attr-defined]
            raise error
        if do == "exit":
            os._exit(13)
        if do == "hang":
            time.sleep(HANG_S)
        if do == "sysexit":
            raise SystemExit(3)


def _y(record: dict) -> object:
    do = record.get("do")
    if do == "nan":
        return float("nan")
    if do == "unencodable":
        return object()
    return 2 * record["x"]
