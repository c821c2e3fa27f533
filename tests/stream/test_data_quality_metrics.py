"""stream's Prometheus metrics export the backend's field-level data-quality counters (real redis-server)."""

from __future__ import annotations

from packflow import InferenceBackend


class Echo(InferenceBackend):
    def execute(self, inputs):
        return inputs


def test_field_counters_in_stream_metrics(r, redis_server, h):
    from prometheus_client import CollectorRegistry, generate_latest

    from packflow.runtime.stream.metrics import StreamCollector
    from packflow.runtime.stream.status import Monitor

    h.fill(r, "in", 30, poison_every=3)
    driver = h.make_driver(redis_server.url, backend=Echo(feature_names=["i", "label"]))
    driver.run()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StreamCollector(Monitor(driver), "echo", "2"))
    text = generate_latest(registry).decode()
    assert 'packflow_field_values_total{backend="echo",field="i",outcome="present",version="2"} 30.0' in text
    assert 'packflow_field_values_total{backend="echo",field="label",outcome="missing",version="2"} 30.0' in text
    assert 'packflow_field_records_total{backend="echo",version="2"} 30.0' in text
    assert 'packflow_field_events_total{backend="echo",kind="unexpected",version="2"} 30.0' in text  # "poison" on every record
