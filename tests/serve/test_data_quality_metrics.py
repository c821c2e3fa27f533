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
