"""Traces of ``packflow stream`` on Redis: the ``traceparent`` entry field continues the producer's trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the packflow[otel] extra")

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from packflow.runtime import tracing  # noqa: E402

pytestmark = [pytest.mark.redis]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = f"00-{OTHER_TRACE}-b7ad6b7169203331-01"


def test_stream_cli_continues_the_trace_of_an_entry_over_otlp(r: Any, redis_server: Any, h: Any, processes: list,
                                                             otlp_receiver: Any) -> None:
    r.delete("tin", "tout", "tin:dead")
    r.xadd("tin", {"data": json.dumps({"i": 1}), "traceparent": TRACEPARENT})
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    proc = h.stream_cli(redis_server.url, "stream_backends:Identity", "--input-stream", "tin", "--output-stream", "tout",
                        "--tracing", "otlp", "--exit-when-idle", "1", "--no-status", env=env)
    processes.append(proc)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [json.loads(f[b"data"]) for _, f in h.read_all(r, "tout")] == [{"i": 1}]  # traceparent stays out of the record
    otlp_receiver.wait_for(lambda rec: any(s.name == "packflow.batch" for s in rec.spans))
    (batch,) = [s for s in otlp_receiver.spans if s.name == "packflow.batch"]
    assert batch.trace_id == TRACE_ID and batch.parent_id == "00f067aa0ba902b7"
    assert batch.attributes["packflow.batch.size"] == 1
    assert {s.name for s in otlp_receiver.spans if s.parent_id == batch.span_id} == {"preprocess", "execute"}


def test_entries_of_several_traces_are_links_and_dead_letters_are_counted(r: Any, redis_server: Any, h: Any,
                                                                          exporter: InMemorySpanExporter) -> None:
    r.delete("in", "out", "in:dead")
    r.xadd("in", {"data": json.dumps({"i": 1}), "traceparent": TRACEPARENT})
    r.xadd("in", {"data": json.dumps({"i": 2, "poison": True}), "traceparent": OTHER})
    r.xadd("in", {"data": json.dumps({"i": 3})})
    driver = h.make_driver(redis_server.url, "Poison", exit_when_idle=0.3)
    driver.run()
    assert driver.stats.dead_letters == 1
    batches = [s for s in exporter.get_finished_spans() if s.name == "packflow.batch"]
    (batch,) = [b for b in batches if b.attributes["packflow.batch.size"] == 3]
    assert batch.parent is None
    assert {format(link.context.trace_id, "032x") for link in batch.links} == {TRACE_ID, OTHER_TRACE}
    assert batch.attributes["packflow.batch.dead_letters"] == 1 and batch.attributes["packflow.batch.outcome"] == "partial"


def test_packed_entries_give_one_parent_per_entry(r: Any, redis_server: Any, h: Any, exporter: InMemorySpanExporter) -> None:
    r.delete("in", "out", "in:dead")
    r.xadd("in", {"data": json.dumps([{"i": 1}, {"i": 2}, {"i": 3}]), "traceparent": TRACEPARENT})
    driver = h.make_driver(redis_server.url, "Identity", input_mode="batch", exit_when_idle=0.3)
    driver.run()
    (batch,) = [s for s in exporter.get_finished_spans() if s.name == "packflow.batch"]
    assert batch.attributes["packflow.batch.size"] == 3
    assert format(batch.context.trace_id, "032x") == TRACE_ID and not batch.links
