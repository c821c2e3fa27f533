"""The inference backend of this project: packflow calls it on batches of records (dicts)."""

from __future__ import annotations

from typing import Any

from packflow import InferenceBackend


class Backend(InferenceBackend):
    """Example backend: counts the words of each record's ``text`` field. Replace with your model."""

    def initialize(self) -> None:
        # Load models and other heavy state here; it runs once, when the backend is constructed.
        self.model = str.split

    def transform_inputs(self, inputs: list[dict]) -> list[str]:
        # Records in, model-ready features out. Keep one item per record: never filter rows.
        return [str(record.get("text", "")) for record in inputs]

    def execute(self, inputs: list[str]) -> list[int]:
        # Only the model call belongs here, so packflow's per-step timings stay meaningful.
        return [len(self.model(text)) for text in inputs]

    def transform_outputs(self, outputs: list[int]) -> list[dict[str, Any]]:
        # Model outputs back to JSON-serialisable records, one per input, in order.
        return [{"word_count": count} for count in outputs]
