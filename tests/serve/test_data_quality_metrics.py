"""serve's /metrics exports the backend's field-level data-quality counters."""

from __future__ import annotations

import warnings

from serve_helpers import make_app
from test_app import metric

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_field_counters_are_prometheus_counters() -> None:
    app = make_app("Identity", backend_kwargs={"feature_names": ["x", "y"]})
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        assert client.post("/invoke", json=[{"x": 1, "y": 2}, {"x": 3, "junk": 1}, {"x": None, "y": 4}]).status_code == 200
        text = client.get("/metrics").text
    labels = {"backend": "Identity", "version": "1.2.3"}
    assert metric(text, "packflow_field_values_total", field="x", outcome="present", **labels) == 2
    assert metric(text, "packflow_field_values_total", field="x", outcome="null", **labels) == 1
    assert metric(text, "packflow_field_values_total", field="y", outcome="missing", **labels) == 1
    assert metric(text, "packflow_field_records_total", **labels) == 3
    assert metric(text, "packflow_field_events_total", kind="unexpected", **labels) == 1
    assert "# TYPE packflow_field_values_total counter" in text


def test_every_model_of_a_several_model_server_exports_its_field_counters() -> None:
    from packflow.runtime.serve import ServeConfig, create_app

    config = ServeConfig(target="serve_backends:Identity", models=["a=serve_backends:Identity", "b=serve_backends:Identity"],
                         backend_kwargs={"feature_names": ["x"]})
    app = create_app(config)
    with TestClient(app) as client:
        for sub in app.apps.values():
            assert sub.state.loaded.wait(10)
        client.post("/models/a/invoke", json=[{"x": 1}])
        client.post("/models/b/invoke", json=[{"x": 1}, {"y": 2}])
        text = client.get("/metrics").text
    assert metric(text, "packflow_field_records_total", backend="a") == 1
    assert metric(text, "packflow_field_records_total", backend="b") == 2
    assert metric(text, "packflow_field_values_total", backend="b", field="x", outcome="missing") == 1
    assert text.count("# TYPE packflow_field_records_total counter") == 1  # one family, a series per model


def test_with_two_workers_the_field_counters_are_the_sum_over_both_engines(start_server) -> None:
    """--workers 2: each backend runs in an engine process; every scrape (whichever worker answers)
    reports the counts of all records either worker's engine saw, and they survive an engine restart."""
    import concurrent.futures
    import json
    import time

    server = start_server("serve_backends:Exiting", "--workers", "2", "--config", json.dumps({"feature_names": ["x", "y", "raise"]}))
    server.wait_status("/health/ready", 200)
    bodies = [{"x": i, "y": i} if i % 4 else {"x": None, "junk": 1} for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # a new connection each: both workers get some
        assert {status for status, _ in pool.map(lambda b: server.request("POST", "/invoke", b), bodies)} == {200}
    pids = {str(server.request("GET", "/")[1]["pid"]) for _ in range(20)}
    assert len(pids) == 2, "both workers should have answered"

    def scraped() -> str:
        status, text = server.request("GET", "/metrics")
        assert status == 200
        return text

    def wait_for(records: int) -> str:
        deadline = time.monotonic() + 10
        while metric(text := scraped(), "packflow_field_records_total", backend="Exiting") != records:
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.1)
        return text

    text = wait_for(40)
    assert metric(text, "packflow_field_values_total", field="x", outcome="present") == 30
    assert metric(text, "packflow_field_values_total", field="x", outcome="null") == 10
    assert metric(text, "packflow_field_values_total", field="y", outcome="missing") == 10
    assert metric(text, "packflow_field_events_total", kind="unexpected") == 10
    assert text.count("# TYPE packflow_field_records_total counter") == 1
    status, _ = server.request("POST", "/invoke", {"x": 1, "y": 1, "raise": "kill"})  # an engine restarts at zero
    assert status == 500
    assert server.request("POST", "/invoke", [{"x": 2, "y": 2}] * 3)[0] == 200
    text = wait_for(43)  # 40 + 3: the killer's own count died with its engine
    assert metric(text, "packflow_field_values_total", field="x", outcome="present") == 33
