"""A firewall-log anomaly detector: robust Mahalanobis distance on log-scaled traffic features.

The model is trained in ``initialize()`` on traffic generated deterministically with numpy (no
downloads): location and covariance come from a few "concentration steps" (fit, keep the closest
90 %, refit), so the 2 % of attacks mixed into the training data do not skew it.
"""

from __future__ import annotations

import math

import numpy as np

from packflow import BackendConfig, InferenceBackend


class FirewallConfig(BackendConfig):
    """The detector's settings (see packflow.yaml)."""

    id_field: str = "event_id"
    threshold: float = 6.0
    training_samples: int = 4000
    seed: int = 7


class FieldError(ValueError):
    """A record's field is missing or not a number; ``record_index`` lets the Runner isolate it at once."""

    def __init__(self, message: str, record_index: int) -> None:
        super().__init__(message)
        self.record_index = record_index


def simulate_traffic(n: int, rng: np.random.Generator, attack_share: float = 0.02) -> np.ndarray:
    """Columns: bytes_in, bytes_out, packets, dst_port, duration_ms."""
    packets = rng.lognormal(3.0, 0.6, n)
    bytes_out = packets * rng.lognormal(math.log(600), 0.3, n)
    bytes_in = bytes_out * rng.lognormal(math.log(3), 0.5, n)
    port = rng.choice([443, 80, 53, 22, 8080], size=n, p=[0.6, 0.2, 0.12, 0.05, 0.03]).astype(float)
    duration = rng.lognormal(math.log(800), 0.7, n)
    data = np.column_stack([bytes_in, bytes_out, packets, port, duration])
    attacks = rng.random(n) < attack_share  # exfiltration: huge uploads to odd ports
    data[attacks, 1] *= 200
    data[attacks, 3] = rng.integers(1024, 65535, attacks.sum())
    return data


def log_features(data: np.ndarray) -> np.ndarray:
    return np.log1p(data)


def robust_fit(x: np.ndarray, keep: float = 0.9, steps: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Mean and inverse covariance of the most central ``keep`` share of ``x`` (C-steps)."""
    subset = x
    for _ in range(steps):
        mean = subset.mean(axis=0)
        inverse = np.linalg.inv(np.cov(subset, rowvar=False) + 1e-6 * np.eye(x.shape[1]))
        distances = squared_distances(x, mean, inverse)
        subset = x[distances <= np.quantile(distances, keep)]
    return mean, inverse


def squared_distances(x: np.ndarray, mean: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    centred = x - mean
    return np.einsum("ij,jk,ik->i", centred, inverse, centred)


class FirewallAnomalyDetector(InferenceBackend):
    """Scores firewall-log records: ``anomaly_score`` (robust distance), ``is_anomaly``, ``most_unusual``."""

    backend_config_model = FirewallConfig

    def initialize(self) -> None:
        cfg = self.config
        self.features = [name for name in cfg.feature_names if name != cfg.id_field]
        rng = np.random.default_rng(cfg.seed)
        train = log_features(simulate_traffic(cfg.training_samples, rng))
        self.mean, self.inverse = robust_fit(train)
        self.scale = np.sqrt(np.diag(np.linalg.inv(self.inverse)))
        self.threshold = cfg.threshold

    def transform_inputs(self, records: list[dict]) -> tuple[list, np.ndarray]:
        ids = [record.get(self.config.id_field) for record in records]
        rows = np.empty((len(records), len(self.features)))
        for i, record in enumerate(records):
            for j, name in enumerate(self.features):
                value = record.get(name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    problem = "is missing" if value is None else f"is {value!r}, not a non-negative number"
                    raise FieldError(f"field {name!r} {problem}", record_index=i)
                rows[i, j] = value
        return ids, log_features(rows)

    def execute(self, inputs: tuple[list, np.ndarray]) -> tuple[list, np.ndarray, np.ndarray]:
        ids, x = inputs
        return ids, squared_distances(x, self.mean, self.inverse), (x - self.mean) / self.scale

    def transform_outputs(self, outputs: tuple[list, np.ndarray, np.ndarray]) -> list[dict]:
        ids, distances, z = outputs
        worst = np.abs(z).argmax(axis=1)
        return [
            {
                self.config.id_field: event_id,
                "anomaly_score": round(float(math.sqrt(d2)), 3),
                "is_anomaly": bool(math.sqrt(d2) > self.threshold),
                "most_unusual": self.features[k],
            }
            for event_id, d2, k in zip(ids, distances, worst)
        ]
