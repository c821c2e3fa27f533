"""A scikit-learn model behind packflow (``sklearn_model:SklearnModel``), for ``mlserver_bench.py``.

Each record carries the model's feature vector in ``features``; the answer is ``{"predict": label}``,
the output name MLServer's scikit-learn runtime uses. The joblib file is config ``model_path``.
scikit-learn is a benchmark-only dependency, not a packflow one.
"""

import joblib
import numpy as np

from packflow import BackendConfig, InferenceBackend


class Settings(BackendConfig):
    model_path: str = "model.joblib"


class SklearnModel(InferenceBackend):
    backend_config_model = Settings

    def initialize(self):
        self.model = joblib.load(self.config.model_path)

    def execute(self, inputs):
        x = np.array([r["features"] for r in inputs], dtype=np.float64)
        return [{"predict": int(label)} for label in self.model.predict(x)]
