"""One metric vocabulary: serve, stream (Redis, Kafka) and run --metrics-json agree on names, types,
labels and values after the same traffic (20 records, one poisoned), through real CLI processes."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from packflow.runtime import metrics_vocab as vocab
from tests.conformance import metrics_drivers as md

pytest.importorskip("prometheus_client")
COMMON = [m for m in vocab.METRICS if set(m.drivers) == set(vocab.ALL_DRIVERS)]
#: Samples that measure time, not traffic: equal in shape, not in value.
TIMED = ("packflow_step_latency_seconds_bucket", "packflow_step_latency_seconds_sum")
LABELS = {"backend": md.NAME, "version": md.VERSION}


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, conformance_redis: str | None) -> Iterator[dict]:
    """What each driver's metrics say after the traffic, and the batches it reported."""
    if conformance_redis is None:
        pytest.skip("redis-server is not installed")
    root = tmp_path_factory.mktemp("metrics")
    project = md.write_project(root / "scorer")
    seen = {}
    for name, run in (("serve", md.through_serve), ("run", md.through_run)):
        (root / name).mkdir()
        seen[name] = run(project, root / name)
    (root / "redis").mkdir()
    seen["stream"] = md.through_redis(project, root / "redis", conformance_redis)
    yield seen


def _labelsets(families: md.Families, name: str) -> set[tuple[str, ...]]:
    return {tuple(k for k, _ in labels if k != "le") for _, labels in families[name][1]}


def _value(families: md.Families, sample: str, **labels: str) -> float:
    want = tuple(sorted({**LABELS, **labels}.items()))
    name = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum").removesuffix("_bucket")
    return families[name][1][(sample, want)]


def _traffic_values(families: md.Families) -> dict:
    """Every common sample whose value counts traffic (not time)."""
    return {key: value for m in COMMON if m.name in families
            for key, value in families[m.name][1].items() if key[0] not in TIMED}


def test_every_exported_family_is_in_the_vocabulary_with_its_type_and_labels(observed):
    for driver, (families, _batches) in observed.items():
        for name, (kind, _samples) in families.items():
            metric = vocab.by_name(name)  # KeyError: a family outside the vocabulary
            assert kind == metric.kind, (driver, name)
            assert _labelsets(families, name) == {tuple(sorted(metric.labels))}, (driver, name)
            assert driver in metric.drivers, (driver, name)


def test_common_families_are_identical_on_every_driver(observed):
    shapes = {driver: {m.name: (families[m.name][0], _labelsets(families, m.name)) for m in COMMON}
              for driver, (families, _) in observed.items()}
    assert shapes["serve"] == shapes["stream"] == shapes["run"]
    sample_keys = {driver: {key for m in COMMON for key in families[m.name][1]} for driver, (families, _) in observed.items()}
    assert sample_keys["serve"] == sample_keys["stream"] == sample_keys["run"]  # same series, same buckets


def test_values_match_the_traffic(observed):
    for driver, (families, batches) in observed.items():
        assert _value(families, "packflow_records_total") == len(md.TRAFFIC), driver
        assert _value(families, "packflow_dead_letters_total", step="execute") == 1, driver
        assert _value(families, "packflow_dead_letters_total", step="preprocess") == 0, driver
        assert _value(families, "packflow_batch_size_count") == batches == 1, driver
        assert _value(families, "packflow_batch_size_sum") == len(md.TRAFFIC), driver
        assert _value(families, "packflow_batch_size_bucket", le="32.0") == 1, driver
        assert _value(families, "packflow_batch_size_bucket", le="16.0") == 0, driver
        calls = _value(families, "packflow_backend_calls_total")
        assert calls > 1, driver  # isolation bisected the poisoned batch
        # one observation per successful call: every call without the poisoned record succeeded
        assert 0 < _value(families, "packflow_step_latency_seconds_count", step="execute") < calls, driver
        assert _value(families, "packflow_field_records_total") == len(md.TRAFFIC), driver
        assert _value(families, "packflow_field_values_total", field="poison", outcome="missing") == 19, driver
        assert _value(families, "packflow_field_values_total", field="x", outcome="present") == 20, driver


def test_traffic_values_are_equal_across_drivers(observed):
    values = {driver: _traffic_values(families) for driver, (families, _) in observed.items()}
    assert values["serve"] == values["stream"] == values["run"]


def test_driver_families_share_the_common_labels(observed):
    serve, stream = observed["serve"][0], observed["stream"][0]
    assert _value(serve, "packflow_serve_requests_total", outcome="partial") == 1  # one record failed
    assert _value(serve, "packflow_serve_request_latency_seconds_count") == 1
    assert _value(serve, "packflow_serve_ready") == 1
    assert _value(stream, "packflow_stream_broker_retries_total") == 0
    assert "packflow_stream_lag" in stream and "packflow_stream_pending" in stream


def test_kafka_mock_exports_the_same_vocabulary(observed, tmp_path: Path):
    pytest.importorskip("confluent_kafka", reason="needs the packflow[kafka] extra")
    from tests.kafka.conftest import start_mock

    project = md.write_project(tmp_path / "scorer")
    cluster = start_mock()
    try:
        families, batches = md.through_kafka(project, tmp_path, cluster)
    finally:
        cluster.stop()
    reference = observed["stream"][0]
    for metric in vocab.METRICS:
        if metric.name in reference:
            assert families[metric.name][0] == reference[metric.name][0], metric.name
            assert _labelsets(families, metric.name) == _labelsets(reference, metric.name), metric.name
    assert _value(families, "packflow_records_total") == len(md.TRAFFIC)
    assert _value(families, "packflow_dead_letters_total", step="execute") == 1
    assert _value(families, "packflow_batch_size_count") == batches
    assert _value(families, "packflow_batch_size_sum") == len(md.TRAFFIC)
