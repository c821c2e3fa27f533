"""Two versions of a payment scorer, for docs/replay.md: V1 has a bug that V2 fixes."""

from __future__ import annotations

import math

from packflow import InferenceBackend


class V1(InferenceBackend):
    """Scores ``amount`` on a log scale; fails on refunds (negative amounts)."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"id": r["id"], "score": round(math.log10(r["amount"]), 3)} for r in inputs]


class V2(InferenceBackend):
    """The fix: refunds score by their absolute amount."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"id": r["id"], "score": round(math.log10(max(abs(r["amount"]), 1e-9)), 3)} for r in inputs]
