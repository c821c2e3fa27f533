"""A backend holding 16 MiB of weights (``weights:Linear``): a linear model over 8 input fields."""

import numpy as np

from packflow import InferenceBackend


class Linear(InferenceBackend):
    def initialize(self):
        rng = np.random.default_rng(0)
        self.weights = rng.standard_normal((8, 262144))  # 8 × 262,144 float64 = 16 MiB

    def execute(self, inputs):
        x = np.array([[r.get(f"f{i}", 0.0) for i in range(8)] for r in inputs])
        return [{"score": float(v)} for v in (x @ self.weights[:, :4]).sum(axis=1)]
