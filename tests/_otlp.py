"""A small OTLP/HTTP receiver for tests: collects ``/v1/traces`` and ``/v1/metrics`` on a loopback port.

Decodes the protobuf bodies with ``opentelemetry-proto`` (gzip too), so tests see what a collector
would: spans with their trace ids, parents, attributes; metrics by name.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from typing import Any, Callable


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Span:
    """One received span, with ids as hex strings."""

    def __init__(self, span: Any, service: str) -> None:
        self.name = span.name
        self.service = service
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_id = span.parent_span_id.hex()
        self.attributes = {a.key: _value(a.value) for a in span.attributes}
        self.links = [(link.trace_id.hex(), link.span_id.hex()) for link in span.links]
        self.start, self.end = span.start_time_unix_nano, span.end_time_unix_nano
        self.error = span.status.code == 2  # STATUS_CODE_ERROR

    def __repr__(self) -> str:
        return f"Span({self.name!r}, trace={self.trace_id[:8]}, parent={self.parent_id[:8]}, {self.attributes})"


class OtlpReceiver:
    """``endpoint`` for ``OTEL_EXPORTER_OTLP_ENDPOINT``; ``spans`` and ``metric_names`` as received."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.metrics: dict[str, list[Any]] = {}
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._take(self.path, body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _take(self, path: str, body: bytes) -> None:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        with self._lock:
            self.requests += 1
            if path == "/v1/traces":
                request = ExportTraceServiceRequest.FromString(body)
                for rs in request.resource_spans:
                    service = next((_value(a.value) for a in rs.resource.attributes if a.key == "service.name"), "")
                    self.spans.extend(Span(s, service) for ss in rs.scope_spans for s in ss.spans)
            elif path == "/v1/metrics":
                request = ExportMetricsServiceRequest.FromString(body)
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            self.metrics.setdefault(metric.name, []).append(metric)

    def wait_for(self, check: Callable[[OtlpReceiver], bool], timeout: float = 20.0) -> None:
        """Wait until ``check(self)`` holds; AssertionError with what arrived otherwise."""
        deadline = time.monotonic() + timeout
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"OTLP receiver: condition not met; spans={self.spans} metrics={list(self.metrics)}")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
