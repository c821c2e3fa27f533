"""Fixtures for the Ray / Spark tests: test projects, records, and local-mode engines (session-wide)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

SOURCE = '''
import os

import numpy as np

from packflow import BackendConfig, InferenceBackend


class Config(BackendConfig):
    init_log: str = ""


def _log_initialize(config):
    if config.init_log:
        with open(config.init_log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\\n")


class Identity(InferenceBackend):
    """Returns every record unchanged; a record with poison=True fails execute()."""

    backend_config_model = Config

    def initialize(self):
        _log_initialize(self.config)

    def execute(self, inputs):
        for record in inputs:
            if record.get("poison"):
                raise ValueError(f"poison record {record.get('id')}")
        return inputs


class RowSum(InferenceBackend):
    """numpy preprocessor over nested features; a row with a missing (NaN) feature fails execute()."""

    backend_config_model = Config

    def initialize(self):
        _log_initialize(self.config)

    def execute(self, inputs):
        if np.isnan(inputs).any():
            raise ValueError("a feature is missing")
        return inputs.sum(axis=1)

    def transform_outputs(self, outputs):
        return [{"sum": float(value)} for value in outputs]
'''

ROWSUM_CONFIG = {"input_format": "numpy", "feature_names": ["features.a", "features.b", "features.c"]}

N_RECORDS = 10_000


def make_record(i: int, poison: bool = False) -> dict:
    return {
        "id": i,
        "poison": poison,
        "src": {"ip": f"10.0.{i // 256 % 256}.{i % 256}", "port": 1024 + i % 50000},
        "features": {"a": float(i), "b": 0.5 * (i % 7), "c": None if poison else 1.25},
    }


def write_project(root: Path, backend: str, backend_config: dict | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "inference.py").write_text(SOURCE, encoding="utf-8")
    config = {"name": "clustertest", "version": "0.1.0", "inference_backend": f"inference:{backend}"}
    if backend_config:
        config["backend_config"] = backend_config
    (root / "packflow.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML
    return root


def build_archive(project: Path, dest: Path) -> Path:
    """A minimal export-style archive: the project files plus packflow-manifest.json with hashes."""
    files = {p.name: p.read_bytes() for p in sorted(project.iterdir()) if p.is_file()}
    manifest = {
        "format": 1, "packflow_version": "test", "python_version": "3", "metadata": {"name": "clustertest"},
        "runtime": {}, "wheels": None,
        "files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files.items()},
    }
    with zipfile.ZipFile(dest, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr("packflow-manifest.json", json.dumps(manifest))
    return dest


@pytest.fixture(scope="session")
def identity_project(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_project(tmp_path_factory.mktemp("identity"), "Identity"))


@pytest.fixture(scope="session")
def rowsum_project(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_project(tmp_path_factory.mktemp("rowsum"), "RowSum", ROWSUM_CONFIG))


#: The records preprocessor reading nested struct fields: rename a nested path, select nested features.
RECORDS_CONFIG = {"rename_fields": {"src.ip": "ip"}, "feature_names": ["id", "ip", "features.a"]}


@pytest.fixture(scope="session")
def records_project(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_project(tmp_path_factory.mktemp("records"), "Identity", RECORDS_CONFIG))


@pytest.fixture(scope="session")
def identity_archive(identity_project: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_archive(Path(identity_project), tmp_path_factory.mktemp("archive") / "clustertest-0.1.0.zip"))


@pytest.fixture(scope="session")
def records() -> list[dict]:
    return [make_record(i) for i in range(N_RECORDS)]


@pytest.fixture(scope="session")
def poisoned() -> tuple[list[dict], set[int]]:
    """2,000 records, every 250th (from 3) poisoned: poison=True and a missing feature."""
    bad = set(range(3, 2000, 250))
    return [make_record(i, i in bad) for i in range(2000)], bad


@pytest.fixture(scope="session")
def records_jsonl(records: list[dict], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    import ray.data

    if ray.is_initialized():  # another module's session (the conformance matrix) may still be up
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]").appName("packflow-tests")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g").getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def init_pids(log: Path) -> list[str]:
    """The pids that ran initialize(), one line per call."""
    return log.read_text(encoding="utf-8").split() if log.exists() else []


class Helpers:
    make_record = staticmethod(make_record)
    build_archive = staticmethod(build_archive)
    write_project = staticmethod(write_project)
    init_pids = staticmethod(init_pids)
    rowsum_config = ROWSUM_CONFIG


@pytest.fixture(scope="session")
def helpers() -> type[Helpers]:
    """Test helpers (importlib import mode: tests cannot import conftest)."""
    return Helpers
