"""Core workloads, run unchanged under this packflow and under the released 0.4.1 (see core_bench.py).

Prints one JSON object of medians (seconds per operation). Uses only the API both versions share.
"""

from __future__ import annotations

import json
import random
import sys
import timeit
from statistics import median
from typing import Any

RECORD_FEATURES = ["src.ip", "dst.port", "bytes", "proto", "meta.sensor_id"]
NUMPY_FEATURES = ["src.port", "dst.port", "bytes", "pkts", "meta.sensor_id"]
ROWS = 1000


def firewall_logs(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Deterministic synthetic nested firewall-log records."""
    rng = random.Random(seed)
    tags = ["dmz", "vpn", "guest", "prod", "scan", "blocked"]
    records = []
    for i in range(n):
        records.append(
            {
                "ts": 1_700_000_000 + i,
                "src": {"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}", "port": rng.randrange(1024, 65536)},
                "dst": {"ip": f"192.168.{rng.randrange(256)}.{rng.randrange(256)}", "port": rng.choice([22, 53, 80, 443, 8080])},
                "bytes": rng.randrange(40, 1_500_000),
                "pkts": rng.randrange(1, 2000),
                "proto": rng.choice(["tcp", "udp", "icmp"]),
                "meta": {"tags": rng.sample(tags, rng.randrange(0, 4)), "sensor_id": rng.randrange(1, 64)},
            }
        )
    return records


def per_op(func: Any, number: int, repeat: int) -> float:
    """Median seconds per call over ``repeat`` timeit runs of ``number`` calls."""
    func()  # warm up
    return median(timeit.repeat(func, number=number, repeat=repeat)) / number


def _quality_cost(to_numpy: Any, rows: list) -> dict[str, float]:
    """The numpy workload with and without the data-quality counting, interleaved (same run, same load)."""
    from packflow import BackendConfig
    from packflow.backend.preprocessors import get_preprocessor

    bare = get_preprocessor(BackendConfig(input_format="numpy", feature_names=NUMPY_FEATURES))
    bare._plan.clean = lambda records: None  # the clean path minus its data-quality update
    with_q, without_q = [], []
    for _ in range(9):
        with_q.append(per_op(lambda: to_numpy(rows), 20, 3))
        without_q.append(per_op(lambda: bare(rows), 20, 3))
    return {"numpy_1000_quality_s": median(with_q), "numpy_1000_no_quality_s": median(without_q)}


def main() -> None:
    from packflow import BackendConfig, InferenceBackend
    from packflow.backend.preprocessors import get_preprocessor

    class Identity(InferenceBackend):
        def execute(self, inputs: Any) -> Any:
            return inputs

    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rows = firewall_logs(ROWS)
    backend = Identity()
    one = rows[0]
    records = get_preprocessor(BackendConfig(flatten_nested_inputs=True, feature_names=RECORD_FEATURES))
    to_numpy = get_preprocessor(BackendConfig(input_format="numpy", feature_names=NUMPY_FEATURES))
    out = {
        "identity_call_s": per_op(lambda: backend(one), int(20000 * scale), 7),
        "records_1000_s": per_op(lambda: records(rows), max(1, int(20 * scale)), 7),
        "numpy_1000_s": per_op(lambda: to_numpy(rows), max(1, int(20 * scale)), 7),
    }
    if "--baseline" in sys.argv:
        import numpy as np

        from packflow.utils import flatten_records

        flat = flatten_records(rows)
        names = NUMPY_FEATURES
        out["bare_numpy_1000_s"] = per_op(lambda: np.array([[r[f] for f in names] for r in flat]), max(1, int(50 * scale)), 7)
        check = to_numpy(rows)
        assert check.tolist() == np.array([[r[f] for f in names] for r in flat]).tolist()
        out.update(_quality_cost(to_numpy, rows))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
