"""``packflow stream --kafka-*``: settings never echo secrets, start-up errors exit 2, keys and headers reach the backend."""

from __future__ import annotations

import base64
import json
import socket
import urllib.request

import pytest

pytestmark = [pytest.mark.kafka]

SECRETS = ("PAIR-SECRET-7f3a", "FILE-SECRET-91c2", "JAAS-SECRET-44de")


def _topics(kafka):
    return kafka.topic("in", 2), kafka.topic("out", 2), kafka.topic("dead", 1)


def _args(topics):
    return ("--input-stream", topics[0], "--output-stream", topics[1], "--dead-letter-stream", topics[2], "--group", "g")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_secrets_never_appear_in_output_logs_status_or_metrics(kafka, k, processes, tmp_path):
    topics = _topics(kafka)
    kafka.fill(topics[0], 2_000)
    settings = tmp_path / "client.properties"
    settings.write_text(f"# librdkafka settings\nsasl.username=svc\nssl.key.password={SECRETS[1]}\n")
    port = _free_port()
    proc = k.stream_cli(
        kafka, "stream_backends:Poison", *_args(topics), "--kafka-config-file", str(settings),
        "--kafka-config", f"sasl.password={SECRETS[0]}", "--kafka-config", f"sasl.oauthbearer.client.secret={SECRETS[2]}",
        "--kafka-config", "consumer.debug=conf,generic", "--log-level", "DEBUG", "--status",
        "--metrics-port", str(port), "--exit-when-idle", "2", env={"PACKFLOW_TEST_DELAY_S": "0.01"},
    )  # fmt: skip
    processes.append(proc)
    assert k.wait_for(lambda: kafka.count(topics[1]) >= 200, timeout=60)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "packflow_records_total" in metrics and "packflow stream  " in err  # status line and metrics ran
    assert "kafka consumer settings" in err and "'sasl.password': '***'" in err  # settings logged, masked
    for secret in SECRETS:
        assert secret not in out and secret not in err and secret not in metrics


def test_a_secret_in_a_malformed_pair_is_not_echoed(kafka, k):
    proc = k.stream_cli(kafka, "stream_backends:Poison", *_args(("a", "b", "c")), "--kafka-config", f"sasl.password{SECRETS[0]}")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "is not KEY=VALUE" in err and SECRETS[0] not in err and "Traceback" not in err


def test_unreachable_cluster_exits_2_without_echoing_secrets(k):
    from types import SimpleNamespace

    nowhere = SimpleNamespace(bootstrap=f"127.0.0.1:{_free_port()}")
    proc = k.stream_cli(nowhere, "stream_backends:Poison", *_args(("a", "b", "c")), "--kafka-config", f"sasl.password={SECRETS[0]}")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "Error: Cannot reach the Kafka cluster" in err and "--kafka-bootstrap" in err
    assert SECRETS[0] not in err and "Traceback" not in err


def test_missing_topic_and_auto_commit_are_refused_at_start(kafka, k):
    topics = _topics(kafka)
    proc = k.stream_cli(kafka, "stream_backends:Poison", *_args((topics[0], "no-such-topic", topics[2])))
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--output-stream topic 'no-such-topic' does not exist" in err
    proc = k.stream_cli(kafka, "stream_backends:Poison", *_args(topics), "--kafka-config", "enable.auto.commit=true")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "packflow commits offsets itself" in err


def test_keys_and_headers_reach_the_backend_in_the_meta_field(kafka, k, processes):
    topics = _topics(kafka)
    kafka.produce(topics[0], [b'{"x": 1}', b'{"x": 2}'], keys=[b"user-1", b"\x00\xff"], headers=[("traceparent", b"00-a-b-01"), ("bin", b"\xff")])
    proc = k.stream_cli(kafka, "kafka_backends:Echo", *_args(topics), "--kafka-meta-field", "_kafka", "--exit-when-idle", "1", cwd=k.here)
    processes.append(proc)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    records = {json.loads(m.value())["x"]: json.loads(m.value()) for m in kafka.read(topics[1])}
    one, two = records[1]["_kafka"], records[2]["_kafka"]
    assert one["key"] == "user-1" and one["topic"] == topics[0] and one["offset"] >= 0 and one["partition"] in (0, 1)
    assert one["headers"] == {"traceparent": "00-a-b-01", "bin": {"base64": base64.b64encode(b"\xff").decode()}}
    assert two["key"] == {"base64": base64.b64encode(b"\x00\xff").decode()}
    assert isinstance(one["timestamp"], int) and one["timestamp"] > 0


def _json_lines(err):
    """The stderr lines that are JSON log objects (the --status and summary lines are not logs)."""
    lines = []
    for line in err.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_secrets_never_appear_in_json_logs_with_librdkafka_debugging(kafka, k, processes, tmp_path):
    topics = _topics(kafka)
    kafka.fill(topics[0], 300)
    settings = tmp_path / "client.json"
    settings.write_text(json.dumps({"ssl.key.password": SECRETS[1], "sasl.username": "svc"}))
    proc = k.stream_cli(
        kafka, "stream_backends:Poison", *_args(topics), "--kafka-config-file", str(settings),
        "--kafka-config", f"sasl.password={SECRETS[0]}", "--kafka-config", f"sasl.oauthbearer.client.secret={SECRETS[2]}",
        "--kafka-config", "debug=conf,generic,security,broker", "--log-level", "DEBUG", "--log-format", "json",
        "--status", "--exit-when-idle", "1",
    )  # fmt: skip
    processes.append(proc)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    logs = _json_lines(err)
    assert logs and all({"time", "level", "logger", "message"} <= set(line) for line in logs)
    settings_line = next(line for line in logs if "kafka consumer settings" in line["message"])
    assert "'sasl.password': '***'" in settings_line["message"]
    assert any(line["logger"] == "packflow.stream.kafka" for line in logs)  # librdkafka's own lines, as JSON
    for secret in SECRETS:
        assert secret not in out and secret not in err
