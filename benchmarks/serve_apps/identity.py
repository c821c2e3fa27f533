"""The identity backend served by the benchmark (``identity:Identity``)."""

from packflow import InferenceBackend


class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs
