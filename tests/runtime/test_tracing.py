"""Tracing of Runner batches with the SDK's in-memory exporters: spans, links, attributes, metrics, log ids."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the packflow[otel] extra")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import StatusCode  # noqa: E402

from packflow import InferenceBackend  # noqa: E402
from packflow._logjson import JsonFormatter, set_span_source  # noqa: E402
from packflow.runtime import metrics_vocab as vocab  # noqa: E402
from packflow.runtime import Runner, is_dead_letter, tracing  # noqa: E402
from packflow.runtime._otel import MAX_CALL_SPANS, OtelObserver  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Steps(InferenceBackend):
    """All four steps; execute fails on records with "poison" and logs one line per batch."""

    def transform_inputs(self, inputs: list[dict]) -> list[dict]:
        if any(r.get("slow") for r in inputs):
            time.sleep(0.2)
        return inputs

    def execute(self, inputs: list[dict]) -> list[dict]:
        self.logger.warning("executing %d records", len(inputs))
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison record")
        return [{"y": r["x"] * 2} for r in inputs]

    def transform_outputs(self, outputs: list[dict]) -> list[dict]:
        return outputs


@pytest.fixture
def otel() -> Iterator[Any]:
    """An in-memory span exporter and metric reader behind the active observer (restored after)."""
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = tracing.install(OtelObserver(provider, MeterProvider(metric_readers=[reader])))
    try:
        yield exporter, reader
    finally:
        tracing.install(previous)
        set_span_source(None)


def _by_name(spans: Any, name: str) -> list[Any]:
    return [s for s in spans if s.name == name]


def test_batch_span_has_a_child_per_step_with_the_backends_own_timing(otel: Any) -> None:
    exporter, _ = otel
    runner = Runner(Steps(), max_batch_size=8)
    tracing.name_runner(runner, "demo", "1.0")
    runner.process_batch([{"x": i} for i in range(5)])
    spans = exporter.get_finished_spans()
    (batch,) = _by_name(spans, "packflow.batch")
    steps = [s for s in spans if s.parent is not None and s.parent.span_id == batch.context.span_id]
    assert [s.name for s in sorted(steps, key=lambda s: s.start_time)] == [
        "preprocess", "transform_inputs", "execute", "transform_outputs"]
    assert all(s.context.trace_id == batch.context.trace_id for s in steps)
    assert all(batch.start_time <= s.start_time <= s.end_time <= batch.end_time for s in steps)
    assert batch.attributes["packflow.batch.size"] == 5
    assert batch.attributes["packflow.batch.dead_letters"] == 0
    assert batch.attributes["packflow.batch.outcome"] == "ok"
    assert batch.attributes["packflow.backend.name"] == "demo" and batch.attributes["packflow.backend.version"] == "1.0"
    assert batch.status.status_code is StatusCode.UNSET
    metrics = runner.backend.get_metrics().execution_times
    execute = _by_name(steps, "execute")[0]
    assert abs((execute.end_time - execute.start_time) / 1e6 - metrics.execute) < 0.01  # the same marks


def test_isolated_batch_counts_dead_letters_and_records_each_call(otel: Any) -> None:
    exporter, _ = otel
    records = [{"x": i} for i in range(8)]
    records[3]["poison"] = True
    results = Runner(Steps(), max_batch_size=8).process_batch(records)
    assert [is_dead_letter(r) for r in results].count(True) == 1
    spans = exporter.get_finished_spans()
    (batch,) = _by_name(spans, "packflow.batch")
    assert batch.attributes["packflow.batch.dead_letters"] == 1
    assert batch.attributes["packflow.dead_letters.execute"] == 1
    assert batch.attributes["packflow.batch.outcome"] == "partial"
    assert batch.status.status_code is StatusCode.ERROR
    calls = _by_name(spans, "packflow.call")
    assert len(calls) == batch.attributes["packflow.batch.calls"] > 1
    failed = [c for c in calls if c.status.status_code is StatusCode.ERROR]
    assert failed and all(c.attributes["packflow.step"] == "execute" for c in failed)
    assert any(e.name == "exception" for e in failed[0].events)
    ok = [c for c in calls if c.status.status_code is StatusCode.UNSET]
    steps_of_ok = [s for s in spans if s.parent is not None and s.parent.span_id == ok[0].context.span_id]
    assert {s.name for s in steps_of_ok} == {"preprocess", "transform_inputs", "execute", "transform_outputs"}
    assert MAX_CALL_SPANS >= len(calls)


def test_one_parent_continues_its_trace(otel: Any) -> None:
    exporter, _ = otel
    Runner(Steps()).process_batch_counted([{"x": 1}, {"x": 2}], parents=[PARENT, PARENT])
    (batch,) = _by_name(exporter.get_finished_spans(), "packflow.batch")
    assert format(batch.context.trace_id, "032x") == TRACE_ID
    assert format(batch.parent.span_id, "016x") == "00f067aa0ba902b7" and not batch.links


def test_several_parents_become_links_of_a_new_trace(otel: Any) -> None:
    exporter, _ = otel
    Runner(Steps()).process_batch_counted([{"x": 1}, {"x": 2}], parents=[PARENT, OTHER, "garbage"])
    (batch,) = _by_name(exporter.get_finished_spans(), "packflow.batch")
    assert batch.parent is None
    assert format(batch.context.trace_id, "032x") not in (TRACE_ID, OTHER.split("-")[1])
    assert {format(link.context.trace_id, "032x") for link in batch.links} == {TRACE_ID, OTHER.split("-")[1]}


def test_submissions_merged_into_one_batch_link_both_ways(otel: Any) -> None:
    exporter, _ = otel
    provider_tracer = tracing.OBSERVER.tracer  # type: ignore[union-attr]
    runner = Runner(Steps(), max_batch_size=64)

    async def request(i: int, **extra: Any) -> Any:
        with provider_tracer.start_as_current_span(f"request {i}"):
            return await runner.submit({"x": i, **extra})

    async def main() -> list[Any]:
        first = asyncio.ensure_future(request(0, slow=True))  # keeps the backend busy while the others queue
        await asyncio.sleep(0.05)
        return [await first, *await asyncio.gather(*(request(i) for i in (1, 2, 3)))]

    assert [r["y"] for r in asyncio.run(main())] == [0, 2, 4, 6]
    spans = exporter.get_finished_spans()
    requests = [s for s in spans if s.name.startswith("request ")]
    batches = _by_name(spans, "packflow.batch")
    linked = [b for b in batches if len(b.links) > 1]
    assert linked, [(b.attributes, b.parent) for b in batches]
    batch = linked[0]
    assert {link.context.span_id for link in batch.links} <= {r.context.span_id for r in requests}
    back = [r for r in requests if any(link.context.span_id == batch.context.span_id for link in r.links)]
    assert len(back) == len(batch.links)


def test_otlp_metrics_are_the_vocabularys_common_families(otel: Any) -> None:
    _, reader = otel
    records = [{"x": i} for i in range(4)]
    records[1]["poison"] = True
    runner = Runner(Steps())
    tracing.name_runner(runner, "demo", "2")
    runner.process_batch(records)
    runner.record_dead_letter("decode", 2)
    data = reader.get_metrics_data()
    points = {m.name: m.data.data_points for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    (received,) = points["packflow_records"]  # as on /metrics: every record received, no outcome label
    assert received.value == 6 and received.attributes == {"backend": "demo", "version": "2"}
    (calls,) = points["packflow_backend_calls"]
    assert calls.value == runner.snapshot().backend_calls > 1  # isolation's extra calls are counted
    described = {m.name: m.description for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert described == {m.name: m.help for m in vocab.METRICS if m.name in described}
    assert {p.attributes["step"]: p.value for p in points["packflow_dead_letters"]} == {"execute": 1, "decode": 2}
    (size,) = points["packflow_batch_size"]
    assert size.count == 1 and size.sum == 4 and size.attributes == {"backend": "demo", "version": "2"}
    latency = {p.attributes["step"] for p in points["packflow_step_latency_seconds"]}
    assert latency == {"preprocess", "transform_inputs", "execute", "transform_outputs"}


def test_json_log_lines_in_a_batch_carry_batch_trace_and_span_ids(otel: Any) -> None:
    exporter, _ = otel
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Capture()
    logging.getLogger("packflow").addHandler(handler)
    try:
        Runner(Steps()).process_batch_counted([{"x": 1}], parents=[PARENT])
    finally:
        logging.getLogger("packflow").removeHandler(handler)
    (batch,) = _by_name(exporter.get_finished_spans(), "packflow.batch")
    (line,) = [ln for ln in lines if ln["message"] == "executing 1 records"]
    assert line["trace_id"] == TRACE_ID
    assert line["span_id"] == line["batch_id"] == format(batch.context.span_id, "016x")


def test_off_by_default_and_no_opentelemetry_import() -> None:
    code = ("import sys, packflow, packflow.cli, packflow.runtime.stream.driver, packflow.runtime.aio\n"
            "from packflow.runtime import Runner, tracing\n"
            "from packflow.testing import *\n"
            "assert tracing.OBSERVER is None\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bad_mode_in_the_environment_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from packflow.exceptions import ConfigurationError

    monkeypatch.setenv(tracing.TRACING_ENV, "jaeger")
    with pytest.raises(ConfigurationError, match="PACKFLOW_TRACING='jaeger' is not one of off, otlp, console"):
        tracing.check_env()


def test_run_console_tracing_keeps_stdout_for_outputs_and_a_bad_mode_exits_2() -> None:
    from pathlib import Path

    serve_tests = Path(__file__).resolve().parents[1] / "serve"
    command = [sys.executable, "-m", "packflow.cli", "run", "serve_backends:Identity", "-i", "-", "-o", "-"]
    out = subprocess.run([*command, "--tracing", "console"], input='{"a": 1}\n', capture_output=True, text=True,
                         timeout=60, cwd=serve_tests)
    assert out.returncode == 0, out.stderr
    assert out.stdout == '{"a":1}\n'
    assert '"name": "packflow.batch"' in out.stderr and '"name": "execute"' in out.stderr
    bad = subprocess.run(command, input="", capture_output=True, text=True, timeout=60, cwd=serve_tests,
                         env={**__import__("os").environ, tracing.TRACING_ENV: "bogus"})
    assert bad.returncode == 2 and "not one of off, otlp, console" in bad.stderr and "Traceback" not in bad.stderr
