"""Issue 10 on ``packflow run``: path collisions, signals, ``--max-wait-ms`` on pipes, BaseException.

Every test runs the real CLI in a child process on real files, pipes and signals.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

BACKENDS = '''
import os, time
from pathlib import Path
from packflow import InferenceBackend


class Slow(InferenceBackend):
    """0.05 s per call; marks the first call in started.txt; fails batches holding a poison record."""

    def execute(self, inputs):
        Path("started.txt").touch()
        time.sleep(0.05)
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


class Hangs(InferenceBackend):
    """Hangs (300 s) on a batch holding a record with "hang"; marks that in hanging.txt."""

    def execute(self, inputs):
        if any(r.get("hang") for r in inputs):
            Path("hanging.txt").touch()
            time.sleep(300)
        return [{"id": r["id"]} for r in inputs]


class Echo(InferenceBackend):
    def execute(self, inputs):
        return [{"id": r["id"]} for r in inputs]


class Raises(InferenceBackend):
    """Raises SystemExit or KeyboardInterrupt, as the record's "raise" says, from backend code."""

    def execute(self, inputs):
        for r in inputs:
            if r.get("raise") == "SystemExit":
                raise SystemExit(3)
            if r.get("raise") == "KeyboardInterrupt":
                raise KeyboardInterrupt
        return [{"id": r["id"]} for r in inputs]


class Mutates(InferenceBackend):
    """Changes its input dicts in place, then fails on a batch holding a record with "fail"."""

    def execute(self, inputs):
        failing = any(r.get("fail") for r in inputs)
        for r in inputs:
            r["id"] = "changed"
        if failing:
            raise ValueError("failing record")
        return [dict(r) for r in inputs]
'''


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "backends.py").write_text(BACKENDS)
    return tmp_path


def packflow(work: Path, *args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    return subprocess.run([*PACKFLOW, *args], cwd=work, timeout=timeout, **kw)


def write_records(path: Path, n: int, **flags: set[int]) -> list[bytes]:
    lines = [json.dumps({"id": i, "x": i, **{k: True for k, ids in flags.items() if i in ids}}).encode() for i in range(n)]
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return lines


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture()
def child():
    started: list[subprocess.Popen] = []

    def start(work: Path, *args: str, **kw) -> subprocess.Popen:
        proc = subprocess.Popen([*PACKFLOW, *args], cwd=work, stdout=kw.pop("stdout", subprocess.PIPE),
                                stderr=subprocess.PIPE, **kw)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# -- item 6: path collisions ------------------------------------------------------------------


def _links(work: Path) -> None:
    os.symlink(work / "in.jsonl", work / "sym.jsonl")
    os.link(work / "in.jsonl", work / "hard.jsonl")


@pytest.mark.parametrize("args, message", [
    (["-i", "in.jsonl", "-o", "in.jsonl"], "--output 'in.jsonl' and --input 'in.jsonl' are the same file"),
    (["-i", "in.jsonl", "-o", "sym.jsonl"], "a symlink or a hard link"),
    (["-i", "in.jsonl", "-o", "hard.jsonl"], "a symlink or a hard link"),
    (["-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "./in.jsonl"], "destroy the input"),
    (["-i", "in.jsonl", "-o", "new.jsonl", "--dead-letters", "sub/../new.jsonl"], "interleave both in one file"),
    (["-i", "in.jsonl", "--dead-letters", "-"], "--dead-letters '-' and --output '-' are the same file"),
], ids=["same-path", "symlink", "hard-link", "dead-letters-on-input", "two-outputs-one-new-file", "stdout-twice"])
def test_two_endpoints_that_are_one_file_are_refused_before_anything_is_written(work, args, message):
    before = b"".join(line + b"\n" for line in write_records(work / "in.jsonl", 5))
    (work / "sub").mkdir()
    _links(work)
    done = packflow(work, "run", "backends:Echo", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr.decode() and done.stderr.startswith(b"Error: ")
    assert (work / "in.jsonl").read_bytes() == before  # the input is intact
    assert not (work / "new.jsonl").exists() and not (work / "out.jsonl").exists() and done.stdout == b""


def test_stdout_redirected_onto_the_input_file_is_refused(work):
    before = b"".join(line + b"\n" for line in write_records(work / "in.jsonl", 5))
    with open(work / "in.jsonl", "ab") as appended:
        done = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", stdout=appended, stderr=subprocess.PIPE,
                        capture_output=False)
    assert done.returncode == 2 and b"are the same file" in done.stderr
    assert (work / "in.jsonl").read_bytes() == before


def test_distinct_files_and_dev_null_twice_are_accepted(work):
    write_records(work / "in.jsonl", 5)
    done = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "-o", os.devnull, "--dead-letters", os.devnull)
    assert done.returncode == 0, done.stderr
    done = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "-")
    assert done.returncode == 0, done.stderr
    assert jsonl(work / "out.jsonl") == [{"id": i} for i in range(5)]


# -- item 7: SIGTERM / SIGINT -----------------------------------------------------------------


def _stopped_at(stderr: bytes) -> int:
    match = re.search(rb"written up to input line ([\d,]+)", stderr)
    assert match, stderr
    return int(match.group(1).replace(b",", b""))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_flushes_a_consistent_prefix_and_says_where_it_stopped(work, child, signum):
    poison = set(range(13, 5000, 97))
    write_records(work / "in.jsonl", 5000, poison=poison)
    proc = child(work, "run", "backends:Slow", "-i", "in.jsonl", "-o", "out.jsonl", "--dead-letters", "dead.jsonl",
                 "-b", "10")
    assert wait_for(lambda: (work / "started.txt").exists())
    time.sleep(1.0)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"stopped by {signal.Signals(signum).name}".encode() in err
    last = _stopped_at(err)
    assert 0 < last < 5000 and last % 10 == 0  # whole batches, and it did not run to the end
    done = range(last)  # line k holds record k - 1
    assert jsonl(work / "out.jsonl") == [{"id": i, "y": 2 * i} for i in done if i not in poison]
    dead = jsonl(work / "dead.jsonl")
    assert [d["record"]["id"] for d in dead] == [i for i in done if i in poison]
    assert [d["source"] for d in dead] == [i + 1 for i in done if i in poison]


def test_a_second_signal_ends_a_hanging_backend_at_once_with_the_completed_prefix(work, child):
    write_records(work / "in.jsonl", 100, hang={25})
    proc = child(work, "run", "backends:Hangs", "-i", "in.jsonl", "-o", "out.jsonl", "-b", "10")
    assert wait_for(lambda: (work / "hanging.txt").exists())
    proc.send_signal(signal.SIGTERM)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(1.0)  # the batch in hand is still running: the first signal waits for it
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"stopped by a second SIGTERM" in err and _stopped_at(err) == 20
    assert jsonl(work / "out.jsonl") == [{"id": i} for i in range(20)]


def test_a_signal_on_an_idle_pipe_stops_at_once(work, child):
    proc = child(work, "run", "backends:Echo", "-b", "100", stdin=subprocess.PIPE)
    proc.stdin.write(b'{"id": 1}\n{"id": 2}\n')
    proc.stdin.flush()
    assert select.select([proc.stdout], [], [], 30)[0]
    assert proc.stdout.readline() == b'{"id":1}\n' and proc.stdout.readline() == b'{"id":2}\n'
    proc.send_signal(signal.SIGINT)  # stdin stays open and silent
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == b"" and _stopped_at(err) == 2


# -- item 11: --max-wait-ms on a pipe ---------------------------------------------------------


@pytest.mark.parametrize("wait_ms", ["0", "100"])
def test_on_a_slow_pipe_each_record_comes_out_before_the_next_goes_in(work, child, wait_ms):
    proc = child(work, "run", "backends:Echo", "-b", "1000", "--max-wait-ms", wait_ms, stdin=subprocess.PIPE)
    for i in range(4):
        proc.stdin.write(json.dumps({"id": i}).encode() + b"\n")
        proc.stdin.flush()
        assert select.select([proc.stdout], [], [], 30)[0], f"record {i} is still waiting for a full batch"
        assert json.loads(proc.stdout.readline()) == {"id": i}
        time.sleep(0.2)
    proc.stdin.close()
    assert proc.wait(30) == 0


def test_a_positive_wait_batches_records_that_arrive_together(work, child):
    proc = child(work, "run", "backends:Echo", "-b", "1000", "--max-wait-ms", "300", "--metrics-json", "m.json",
                 stdin=subprocess.PIPE)
    proc.stdin.write(b"".join(json.dumps({"id": i}).encode() + b"\n" for i in range(50)))
    proc.stdin.flush()
    assert select.select([proc.stdout], [], [], 30)[0]
    proc.stdin.close()
    assert proc.wait(30) == 0
    assert json.loads((work / "m.json").read_text())["runner"]["batches"] == 1


# -- item 2: backend BaseException; item 10: records as read ----------------------------------


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt"])
def test_backend_base_exceptions_are_dead_letters_and_the_run_goes_on(work, exception):
    lines = [json.dumps({"id": i, **({"raise": exception} if i == 4 else {})}) for i in range(10)]
    (work / "in.jsonl").write_text("\n".join(lines) + "\n")
    done = packflow(work, "run", "backends:Raises", "-i", "in.jsonl", "--dead-letters", "dead.jsonl", "-b", "4")
    assert done.returncode == 3, done.stderr
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    (dead,) = jsonl(work / "dead.jsonl")
    assert dead["error_type"] == exception and dead["source"] == 5 and dead["record"] == json.loads(lines[4])


def test_json_array_dead_letters_hold_the_record_as_read(work):
    (work / "in.json").write_text(json.dumps([{"id": 0}, {"id": 1, "fail": True}, {"id": 2}]))
    done = packflow(work, "run", "backends:Mutates", "-i", "in.json", "--dead-letters", "dead.jsonl")
    assert done.returncode == 3, done.stderr
    (dead,) = jsonl(work / "dead.jsonl")
    assert dead["record"] == {"id": 1, "fail": True} and dead["source"] == 2
