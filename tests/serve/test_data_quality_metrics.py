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
