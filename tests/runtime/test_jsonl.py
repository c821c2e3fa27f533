"""JSON-lines / JSON-array reading, batch writing, and run_jsonl's dead-letter bookkeeping."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from packflow import InferenceBackend
from packflow.runtime import BatchFailedError, Runner
from packflow.runtime.jsonl import JsonLinesReader, JsonLinesWriter, run_jsonl


def read_all(data: bytes, size: int = 3):
    batches = list(JsonLinesReader(io.BytesIO(data), size))
    records = [(b.source(i), r) for b in batches for i, r in enumerate(b.records)]
    dead = [d for b in batches for d in b.dead]
    return batches, records, dead


def run(runner, data: bytes, size: int = 4):
    out, dead = io.BytesIO(), []
    run_jsonl(runner, JsonLinesReader(io.BytesIO(data), size), JsonLinesWriter(out), dead.extend)
    return [json.loads(line) for line in out.getvalue().splitlines()], dead


def test_lines_become_batches_with_line_numbers():
    data = b'{"a": 1}\n{"a": 2}\r\n\n   \n{"a": 3}\n{"a": 4}\n{"a": 5}'  # CRLF, blanks, no final newline
    batches, records, dead = read_all(data)
    assert records == [(1, {"a": 1}), (2, {"a": 2}), (5, {"a": 3}), (6, {"a": 4}), (7, {"a": 5})]
    assert dead == []
    assert all(len(b.records) <= 3 for b in batches)


def test_malformed_and_non_object_lines_are_decode_dead_letters():
    data = b'{"a": 1}\n{"a": \nnull\n[1, 2]\n"text"\n7\n\xff\xfe{}\n{"a": 2}\n'
    _, records, dead = read_all(data, size=100)
    assert records == [(1, {"a": 1}), (8, {"a": 2})]
    assert [(d.source, d.step, d.error_type) for d in dead] == [
        (2, "decode", "DecodeError"), (3, "decode", "DecodeError"), (4, "decode", "DecodeError"),
        (5, "decode", "DecodeError"), (6, "decode", "DecodeError"), (7, "decode", "DecodeError"),
    ]
    assert dead[0].record == '{"a": ' and "line 2: the input is not valid JSON" in dead[0].message
    assert "line 4: the input is a JSON array, not an object" in dead[2].message
    assert "JSON null" in dead[1].message and "JSON string" in dead[3].message
    json.dumps([d.to_dict() for d in dead])


def test_a_json_array_is_read_as_records():
    _, records, dead = read_all(b'  [{"a": 1}, 2, {"a": 3}, [4]]', size=2)
    assert records == [(1, {"a": 1}), (3, {"a": 3})]
    assert [(d.source, d.record) for d in dead] == [(2, 2), (4, [4])]
    assert "array element 2 is a JSON number" in dead[0].message


def test_lines_that_start_with_a_bracket_but_are_not_one_array_are_json_lines():
    _, records, dead = read_all(b'[1, 2]\n{"a": 1}\n')
    assert records == [(2, {"a": 1})]
    assert dead[0].source == 1 and dead[0].error_type == "DecodeError"


def test_empty_and_blank_inputs_give_nothing():
    assert read_all(b"")[0] == []
    assert read_all(b"\n  \n")[1:] == ([], [])


def test_long_input_is_cut_across_chunk_boundaries():
    lines = [json.dumps({"i": i, "pad": "x" * (i % 700)}).encode() for i in range(5000)]
    data = b"\n".join(lines)
    assert len(data) > 2 * (1 << 20) // 2
    _, records, dead = read_all(data, size=333)
    assert [r["i"] for _, r in records] == list(range(5000)) and dead == []
    assert [n for n, _ in records] == list(range(1, 5001))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3).map(json.dumps),
    st.sampled_from(["", "  ", "{", "}", "[]", "null", "1.5", '"s"', '{"a":}', "{}{}"]),
), max_size=40), st.integers(1, 7))
def test_property_every_non_blank_line_is_one_record_or_one_dead_letter(lines, size):
    data = "\n".join(lines).encode()
    assume(not _is_array(data))  # a whole input that is one JSON array is read as an array
    _, records, dead = read_all(data, size)
    expected_records = [(i + 1, json.loads(line)) for i, line in enumerate(lines) if line.strip() and _is_object(line)]
    assert records == expected_records
    assert [d.source for d in dead] == [i + 1 for i, line in enumerate(lines) if line.strip() and not _is_object(line)]


def _is_array(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data), list)
    except ValueError:
        return False


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def test_pipe_input_flushes_a_partial_batch_after_max_wait():
    read_fd, write_fd = os.pipe()
    release = threading.Event()

    def producer():
        os.write(write_fd, b'{"a": 1}\n{"a": 2}\n')
        release.wait(5)
        os.write(write_fd, b'{"a": 3}\n')
        os.close(write_fd)

    thread = threading.Thread(target=producer)
    thread.start()
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as stream:
            batches = iter(JsonLinesReader(stream, 100, max_wait_ms=20))
            started = time.monotonic()
            first = next(batches)
            assert time.monotonic() - started < 2.0
            assert first.records == [{"a": 1}, {"a": 2}]
            release.set()
            assert [b.records for b in batches] == [[{"a": 3}]]
    finally:
        release.set()
        thread.join(5)


def test_writer_encodes_numpy_values_and_reports_unencodable_records():
    out = io.BytesIO()
    failures = JsonLinesWriter(out).write([{"a": np.float32(1.5), "b": np.arange(2)}, {"c": object()}, {"d": 1}])
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [{"a": 1.5, "b": [0, 1]}, {"d": 1}]
    assert [index for index, _, _ in failures] == [1]
    assert "cannot be written as JSON" in failures[0][2]


class Mutating(InferenceBackend):
    """Scribbles on its inputs before failing on poison: dead letters must still carry the original."""

    def execute(self, inputs):
        for record in inputs:
            record["seen"] = True
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison")
        return [{"x": r["x"], "out": object() if r.get("unencodable") else 1} for r in inputs]


def test_run_jsonl_keeps_order_and_dead_letters_carry_original_record_and_line():
    data = b'{"x": 0}\n{"x": 1, "poison": true}\nnope\n{"x": 3, "unencodable": true}\n{"x": 4}\n'
    runner = Runner(Mutating(), max_batch_size=4)
    outputs, dead = run(runner, data, size=4)
    assert outputs == [{"x": 0, "out": 1}, {"x": 4, "out": 1}]
    assert [(d.source, d.step) for d in dead] == [(2, "execute"), (3, "decode"), (4, "encode")]
    assert dead[0].record == {"x": 1, "poison": True}  # without the backend's "seen"
    assert dead[2].record == {"x": 3, "unencodable": True}
    snap = runner.snapshot()
    assert (snap.records_in, snap.records_out, snap.dead_letters) == (5, 2, 3)
    assert snap.dead_letters_by_step == {"decode": 1, "execute": 1, "encode": 1}


def test_run_jsonl_with_on_error_fail_stops_at_a_bad_line(kit):
    runner = Runner(kit.Doubler(), max_batch_size=2, on_error="fail")
    with pytest.raises(BatchFailedError, match="Record at 3 failed in decode"):
        run(runner, b'{"id": 1, "x": 1}\n{"id": 2, "x": 2}\n{oops\n', size=2)


def test_run_jsonl_reports_progress(kit):
    seen = []
    out = io.BytesIO()
    data = b"".join(b'{"id": %d, "x": 1}\n' % i for i in range(10))
    run_jsonl(Runner(kit.Doubler(), max_batch_size=4), JsonLinesReader(io.BytesIO(data), 4), JsonLinesWriter(out),
              lambda d: None, seen.append)
    assert seen == [4, 8, 10]


def test_deeply_nested_lines_are_dead_letters():
    _, records, dead = read_all(b'{"a": 1}\n' + b"[" * 50_000 + b"\n" + b'{"b": ' * 5000 + b"\n")
    assert records == [(1, {"a": 1})]
    assert [(d.source, d.step) for d in dead] == [(2, "decode"), (3, "decode")]


NO_ORJSON = r"""
import io, json, sys
sys.modules["orjson"] = None  # as if orjson were not installed
from packflow import InferenceBackend
from packflow.runtime import Runner
from packflow.runtime import jsonl

from packflow.runtime import _json
assert not _json.HAVE_ORJSON

class Echo(InferenceBackend):
    def execute(self, inputs):
        return inputs

out, dead = io.BytesIO(), []
data = b'{"a": 1}\nnope\n{"b": "\xc3\xa9"}\n' + b"[" * 50000 + b"\n"
jsonl.run_jsonl(Runner(Echo()), jsonl.JsonLinesReader(io.BytesIO(data), 10), jsonl.JsonLinesWriter(out), dead.extend)
print(json.dumps({"out": out.getvalue().decode(), "dead": [(d.source, d.error_type) for d in dead]}))
"""


def test_works_without_orjson():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", NO_ORJSON], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [json.loads(line) for line in result["out"].splitlines()] == [{"a": 1}, {"b": "é"}]
    assert result["dead"] == [[2, "DecodeError"], [4, "DecodeError"]]


def test_a_line_longer_than_a_chunk_is_one_record():
    big = json.dumps({"blob": "x" * (3 << 20)}).encode()
    _, records, dead = read_all(b'{"a": 1}\n' + big + b'\n{"a": 2}', size=10)
    assert [n for n, _ in records] == [1, 2, 3] and len(records[1][1]["blob"]) == 3 << 20 and dead == []


class _MutatesAndFails(InferenceBackend):
    """Doubles ``x`` in place (violating the contract) and fails on records marked poison."""

    def execute(self, inputs):
        for record in inputs:
            record["x"] *= 2
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison")
        return [{"id": r["id"], "x": r["x"]} for r in inputs]


@pytest.mark.parametrize("shape", ["lines", "array"])
def test_dead_letters_hold_the_record_as_received_and_retries_are_unaffected(shape):
    records = [{"id": i, "x": i, "nested": {"k": [i]}} for i in range(6)]
    records[4]["poison"] = True
    data = ("\n".join(json.dumps(r) for r in records) if shape == "lines" else json.dumps(records)).encode()
    out, dead = io.BytesIO(), []
    run_jsonl(Runner(_MutatesAndFails()), JsonLinesReader(io.BytesIO(data), 6), JsonLinesWriter(out), dead.extend)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"id": i, "x": 2 * i} for i in range(6) if i != 4]
    assert [(d.source, d.step, d.record) for d in dead] == [(5, "execute", records[4])]
