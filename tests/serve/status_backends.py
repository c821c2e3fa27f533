"""Backends of the status-page tests (importable as ``status_backends:Name`` from this folder)."""

from __future__ import annotations

from packflow import InferenceBackend


class Scored(InferenceBackend):
    """Doubles ``x``; a batch holding ``"poison": true`` fails (the Runner isolates that record)."""

    def execute(self, inputs):
        if any(r.get("poison") is True for r in inputs):
            raise ValueError("poison record")
        return [{"y": 2 * r.get("x", 0)} for r in inputs]
