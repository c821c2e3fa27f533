"""``packflow stream --tracing otlp`` on Kafka: the ``traceparent`` message header continues the producer's trace."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the packflow[otel] extra")

pytestmark = [pytest.mark.kafka]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def test_kafka_header_traceparent_continues_the_trace(kafka: Any, k: Any, processes: list, otlp_receiver: Any) -> None:
    topics = kafka.topic("in", 1), kafka.topic("out", 1), kafka.topic("dead", 1)
    kafka.produce(topics[0], [json.dumps({"i": i}).encode() for i in range(3)],
                  headers=[("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode())])
    kafka.produce(topics[0], [b'{"i": 9}'], headers=[("traceparent", f"00-{OTHER_TRACE}-b7ad6b7169203331-01".encode())])
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    proc = k.stream_cli(kafka, "stream_backends:Identity", "--input-stream", topics[0], "--output-stream", topics[1],
                        "--dead-letter-stream", topics[2], "--group", "g", "--tracing", "otlp", "--exit-when-idle", "2",
                        env=env)
    processes.append(proc)
    _out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert len(kafka.read(topics[1])) == 4
    otlp_receiver.wait_for(lambda rec: sum(s.attributes.get("packflow.batch.size", 0) for s in rec.spans
                                           if s.name == "packflow.batch") == 4)
    batches = [s for s in otlp_receiver.spans if s.name == "packflow.batch"]
    traces = {s.trace_id for s in batches} | {trace for s in batches for trace, _ in s.links}
    assert {TRACE_ID, OTHER_TRACE} <= traces
    for batch in batches:
        assert {s.name for s in otlp_receiver.spans if s.parent_id == batch.span_id} == {"preprocess", "execute"}
