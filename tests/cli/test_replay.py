"""`packflow replay` end to end: dead letters of a real `packflow run`, replayed through a fixed backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.replay import ReplayInputError, iter_dead_letter_lines, parse_dead_letter, replay

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

BACKENDS = '''
from packflow import InferenceBackend


class V1(InferenceBackend):
    """Fails on records without "x" and on negative x."""

    def execute(self, inputs):
        for r in inputs:
            if r["x"] < 0:
                raise ValueError(f"negative x in id={r['id']}")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


class V2(InferenceBackend):
    """The fix: negative x is fine now; a missing x still fails (differently: TypeError)."""

    def execute(self, inputs):
        for r in inputs:
            r.setdefault("x", None)
            if r["x"] is None:
                raise TypeError(f"x is missing in id={r['id']}")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]
'''


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "backends.py").write_text(BACKENDS)
    lines = [{"id": i, "x": i} for i in range(20)]
    lines[3]["x"] = -3
    lines[11]["x"] = -11
    del lines[15]["x"]
    text = "".join(json.dumps(r) + "\n" for r in lines) + "not json\n"
    (tmp_path / "in.jsonl").write_text(text)
    return tmp_path


def packflow(work: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PACKFLOW, *args], cwd=work, input=stdin, capture_output=True, timeout=60)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_replay_recovers_fixed_records_and_keeps_their_source_lines(work: Path) -> None:
    first = packflow(work, "run", "backends:V1", "-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "dead.jsonl")
    assert first.returncode == 3, first.stderr
    dead = jsonl(work / "dead.jsonl")
    assert sorted(d["source"] for d in dead) == [4, 12, 16, 21]

    done = packflow(work, "replay", "dead.jsonl", "--target", "backends:V2", "-o", "recovered.jsonl",
                    "--dead-letters", "still.jsonl", "--compare", "--compare-json", "cmp.json")
    assert done.returncode == 3, done.stderr  # two records still fail
    recovered = jsonl(work / "recovered.jsonl")
    assert sorted((r["output"]["id"], r["output"]["y"]) for r in recovered) == [(3, -6), (11, -22)]
    assert {r["replay_of"]["source"] for r in recovered} == {4, 12}
    assert all(r["replay_of"]["origin"] == "dead.jsonl" for r in recovered)

    still = jsonl(work / "still.jsonl")
    by_source = {d["source"]["source"]: d for d in still}
    assert set(by_source) == {16, 21}
    assert by_source[16]["record"] == {"id": 15}  # as received, not V2's mutated copy with "x": null
    assert (by_source[16]["step"], by_source[16]["error_type"]) == ("execute", "TypeError")
    assert by_source[21]["step"] == "decode"
    assert "2 recovered, 2 still failing" in done.stderr.decode()

    report = json.loads((work / "cmp.json").read_text())
    rows = {(r["step"], r["error_type"]): r for r in report["by_original_failure"]}
    assert rows[("execute", "ValueError")]["fixed"] == 2
    assert rows[("execute", "KeyError")]["failing_differently"] == 1
    assert {"step": "execute", "error_type": "TypeError", "records": 1} in report["new_failures"]


def test_a_replay_of_a_replay_still_points_at_the_first_input(work: Path) -> None:
    packflow(work, "run", "backends:V1", "-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "dead.jsonl")
    packflow(work, "replay", "dead.jsonl", "-t", "backends:V1", "-o", "r1.jsonl", "--dead-letters", "d1.jsonl")
    again = packflow(work, "replay", "d1.jsonl", "-t", "backends:V2", "-o", "r2.jsonl", "--dead-letters", "d2.jsonl")
    assert again.returncode == 3
    recovered = jsonl(work / "r2.jsonl")
    assert {(r["replay_of"]["origin"], r["replay_of"]["source"]) for r in recovered} == {("dead.jsonl", 4), ("dead.jsonl", 12)}


def test_everything_recovered_exits_0_and_stdin_works(work: Path) -> None:
    packflow(work, "run", "backends:V1", "-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "dead.jsonl")
    negatives = b"".join(line + b"\n" for line in (work / "dead.jsonl").read_bytes().splitlines() if b"negative" in line)
    done = packflow(work, "replay", "-", "-t", "backends:V2", stdin=negatives)
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["output"]["y"] for line in done.stdout.splitlines()) == [-22, -6]


def test_replay_refuses_a_file_that_is_not_dead_letters(work: Path) -> None:
    done = packflow(work, "replay", "in.jsonl", "-t", "backends:V2")
    assert done.returncode == 2
    assert "in.jsonl at 1: expected a dead letter" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_replay_needs_exactly_one_source(work: Path) -> None:
    done = packflow(work, "replay", "-t", "backends:V2")
    assert done.returncode == 2
    assert "Give either a DEAD_LETTERS file" in done.stderr.decode()


def test_stream_and_cluster_shapes_parse_to_the_original_record() -> None:
    stream_entry = {"data": b'{"a": 1}', "id": "1-0", "step": "execute", "error_type": "ValueError", "reason": "r"}
    item = parse_dead_letter(stream_entry, "redis stream 'x:dead'", "5-0")
    assert item.record == {"a": 1} and item.replay_of == {"origin": "redis stream 'x:dead'", "position": "5-0", "source": "1-0"}
    cluster_row = {"record": '{"b": [1, 2]}', "step": "preprocess", "error_type": "KeyError", "message": "m"}
    assert parse_dead_letter(cluster_row, "f", 1).record == {"b": [1, 2]}
    with pytest.raises(ReplayInputError, match="line 2 is not JSON"):
        list(iter_dead_letter_lines([b'{"record": {}, "step": "execute"}', b"{oops"], "f"))


def test_library_replay_batches_and_counts() -> None:
    items = [parse_dead_letter({"record": {"i": i}, "step": "execute", "error_type": "E"}, "f", i) for i in range(10)]
    calls: list[int] = []

    def process(records: list) -> list:
        calls.append(len(records))
        return [DeadLetter(r, "execute", "E", "odd") if r["i"] % 2 else {"i": r["i"]} for r in records]

    outputs: list = []
    dead: list = []
    result = replay(process, items, outputs.append, dead.append, batch_size=4)
    assert calls == [4, 4, 2]
    assert [o["output"]["i"] for o in outputs] == [0, 2, 4, 6, 8]
    assert [d.record["i"] for d in dead] == [1, 3, 5, 7, 9]
    assert result.to_dict()["by_original_failure"] == [
        {"step": "execute", "error_type": "E", "records": 10, "fixed": 5, "still_failing": 5, "failing_differently": 0}
    ]
