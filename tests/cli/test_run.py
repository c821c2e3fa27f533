"""`packflow run` end to end, as a subprocess on real files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "firewall-anomaly"
PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

BACKENDS = '''
from packflow import BackendConfig, InferenceBackend


class Doubler(InferenceBackend):
    def execute(self, inputs):
        for r in inputs:
            if r.get("poison"):
                raise ValueError(f"poison record id={r['id']}")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


class ScaledConfig(BackendConfig):
    factor: int = 1


class Scaled(InferenceBackend):
    backend_config_model = ScaledConfig

    def execute(self, inputs):
        return [{"id": r["id"], "y": self.config.factor * r["x"]} for r in inputs]


class FailsToStart(InferenceBackend):
    def initialize(self):
        raise RuntimeError("model file missing")

    def execute(self, inputs):
        return inputs
'''


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "backends.py").write_text(BACKENDS)
    return tmp_path


def packflow(work: Path, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*PACKFLOW, *args], cwd=work, input=stdin, capture_output=True, timeout=timeout)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def records(n: int, poison: tuple[int, ...] = ()) -> list[str]:
    return [json.dumps({"id": i, "x": i, **({"poison": True} if i in poison else {})}) for i in range(n)]


def outputs(data: bytes | str) -> list[dict]:
    text = data.decode() if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines()]


def test_all_records_succeed_file_to_file(work):
    source = write_lines(work / "in.jsonl", records(25))
    done = packflow(work, "run", "backends:Doubler", "--input", str(source), "--output", "out.jsonl",
                    "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    assert outputs((work / "out.jsonl").read_text()) == [{"id": i, "y": 2 * i} for i in range(25)]
    assert done.stdout == b"" and b"dead-lettered" not in done.stderr


def test_stdin_to_stdout_by_default(work):
    done = packflow(work, "run", "backends:Doubler", stdin="\n".join(records(3)).encode())
    assert done.returncode == 0, done.stderr
    assert outputs(done.stdout) == [{"id": 0, "y": 0}, {"id": 1, "y": 2}, {"id": 2, "y": 4}]


def test_dead_letters_file_and_exit_code_3(work):
    lines = records(10, poison=(0, 9))
    lines.insert(4, '{"id": 99, "x": ')
    lines.insert(7, "[1, 2, 3]")
    source = write_lines(work / "in.jsonl", lines)
    done = packflow(work, "run", "backends:Doubler", "-i", str(source), "--dead-letters", "dead.jsonl", "-b", "3")
    assert done.returncode == 3, done.stderr
    assert [r["id"] for r in outputs(done.stdout)] == [1, 2, 3, 4, 5, 6, 7, 8]
    dead = outputs((work / "dead.jsonl").read_text())
    assert [(d["source"], d["step"], d["error_type"]) for d in dead] == [
        (1, "execute", "ValueError"), (5, "decode", "DecodeError"), (8, "decode", "DecodeError"),
        (12, "execute", "ValueError"),
    ]
    assert dead[0]["record"] == {"id": 0, "x": 0, "poison": True}
    assert "poison record id=0" in dead[0]["message"]
    assert dead[1]["record"] == '{"id": 99, "x": '
    assert all(d["timestamp"].endswith("Z") for d in dead)
    assert b"4 records were dead-lettered; see dead.jsonl" in done.stderr


def test_without_dead_letters_file_stderr_has_count_and_first_reasons(work):
    lines = ["not json"] * 8 + records(2)
    done = packflow(work, "run", "backends:Doubler", stdin="\n".join(lines).encode())
    assert done.returncode == 3
    err = done.stderr.decode()
    assert "8 records were dead-lettered (use --dead-letters FILE to keep them). First 5:" in err
    assert err.count("[decode] DecodeError: line") == 5
    assert "#1 [decode]" in err and "#6 [decode]" not in err
    assert len(outputs(done.stdout)) == 2


def test_json_array_input(work):
    source = work / "in.json"
    source.write_text(json.dumps([{"id": 1, "x": 1}, "nope", {"id": 3, "x": 3}]))
    done = packflow(work, "run", "backends:Doubler", "-i", str(source), "--dead-letters", "dead.jsonl")
    assert done.returncode == 3
    assert outputs(done.stdout) == [{"id": 1, "y": 2}, {"id": 3, "y": 6}]
    assert outputs((work / "dead.jsonl").read_text())[0]["source"] == 2


def test_metrics_json_and_latency_table(work):
    source = write_lines(work / "in.jsonl", records(40, poison=(17,)))
    done = packflow(work, "run", "backends:Doubler", "-i", str(source), "-o", "out.jsonl", "-b", "8",
                    "--metrics-json", "metrics.json", "--progress")
    assert done.returncode == 3, done.stderr
    summary = json.loads((work / "metrics.json").read_text())
    assert (summary["records_in"], summary["records_out"], summary["dead_letters"]) == (40, 39, 1)
    assert summary["dead_letters_by_step"] == {"execute": 1}
    assert summary["exit_code"] == 3 and summary["elapsed_s"] > 0
    assert set(summary["steps"]) == {"preprocess", "execute", "total"}
    assert {"count", "mean_ms", "p50_ms", "p95_ms", "p99_ms"} <= set(summary["steps"]["total"])
    assert summary["runner"]["batches"] == 5 and summary["runner"]["batch_sizes"]["8"] == 5
    err = done.stderr.decode()
    assert "step" in err and "p95 ms" in err and "p99 ms" in err
    assert "records: 40 in, 39 out, 1 dead-lettered (execute 1) in 5 batches" in err
    assert "40 records" in err and "rec/s" in err  # the progress line


def test_quiet_without_progress_when_not_on_a_terminal(work):
    done = packflow(work, "run", "backends:Doubler", "-i", str(write_lines(work / "in.jsonl", records(3))))
    assert done.returncode == 0 and done.stderr == b""


@pytest.mark.parametrize("shape", ["configs", "plain"])
def test_config_file_overrides_backend_settings(work, shape):
    settings = {"factor": 10}
    (work / "config.json").write_text(json.dumps({"configs": settings} if shape == "configs" else settings))
    done = packflow(work, "run", "backends:Scaled", "--config", "config.json", stdin=b'{"id": 1, "x": 3}')
    assert done.returncode == 0, done.stderr
    assert outputs(done.stdout) == [{"id": 1, "y": 30}]


def test_bad_config_file_exits_2_naming_the_file(work):
    (work / "config.json").write_text("{not json")
    done = packflow(work, "run", "backends:Scaled", "--config", "config.json", stdin=b"")
    assert done.returncode == 2
    assert b"--config file 'config.json' is not valid JSON" in done.stderr
    (work / "config.json").write_text('{"factor": "ten"}')
    done = packflow(work, "run", "backends:Scaled", "--config", "config.json", stdin=b"")
    assert done.returncode == 2 and b"factor" in done.stderr


@pytest.mark.parametrize("target, message", [
    ("no_such_module:Backend", b"no_such_module"),
    ("backends:Missing", b"has no attribute 'Missing'"),
    ("backends:FailsToStart", b"model file missing"),
    (".", b"packflow.yaml"),
])
def test_bad_target_exits_2_with_a_message(work, target, message):
    done = packflow(work, "run", target, stdin=b'{"id": 1, "x": 1}\n')
    assert done.returncode == 2
    assert done.stderr.startswith(b"Error: ") and message in done.stderr
    assert b"Traceback" not in done.stderr


def test_missing_input_file_exits_2(work):
    done = packflow(work, "run", "backends:Doubler", "--input", "nope.jsonl")
    assert done.returncode == 2 and b"nope.jsonl" in done.stderr


def test_on_error_fail_aborts_with_exit_1(work):
    source = write_lines(work / "in.jsonl", records(12, poison=(6,)))
    done = packflow(work, "run", "backends:Doubler", "-i", str(source), "-b", "4", "--on-error", "fail")
    assert done.returncode == 1
    assert b"Error: A batch of 4 records failed in execute" in done.stderr
    assert [r["id"] for r in outputs(done.stdout)] == [0, 1, 2, 3]  # the batch before the failure


def test_pipe_partial_batches_are_answered_without_waiting_for_more_input(work):
    proc = subprocess.Popen([*PACKFLOW, "run", "backends:Doubler", "-b", "1000", "--max-wait-ms", "20"], cwd=work,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(b'{"id": 1, "x": 21}\n')
        proc.stdin.flush()
        started = time.monotonic()
        line = proc.stdout.readline()  # arrives although the batch is far from full and stdin is open
        assert json.loads(line) == {"id": 1, "y": 42}
        assert time.monotonic() - started < 30
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.parametrize("engine, package", [("spark", "pyspark"), ("ray", "ray")])
def test_an_engine_whose_extra_is_missing_exits_2_naming_the_extra(work, engine, package):
    hide = f"import sys; sys.modules[{package!r}] = None; from packflow.cli import cli; cli(prog_name='packflow')"
    source = write_lines(work / "in.jsonl", records(3))
    done = subprocess.run(
        [sys.executable, "-c", hide, "run", "backends:Doubler", "--engine", engine, "-i", str(source),
         "-o", str(work / "out.jsonl")],
        cwd=work, capture_output=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"--engine {engine}".encode() in done.stderr
    assert f"packflow[{engine}]".encode() in done.stderr


def test_example_project(tmp_path):
    done = packflow(tmp_path, "run", str(EXAMPLE), "-i", str(EXAMPLE / "events.jsonl"),
                    "--dead-letters", "dead.jsonl")
    assert done.returncode == 3, done.stderr
    scored = outputs(done.stdout)
    assert len(scored) == 18
    assert {r["event_id"] for r in scored if r["is_anomaly"]} == {"evt-0901", "evt-0902"}
    dead = outputs((tmp_path / "dead.jsonl").read_text())
    assert [(d["source"], d["step"]) for d in dead] == [
        (4, "transform_inputs"), (10, "transform_inputs"), (15, "decode"), (18, "decode")]
    assert "'lots'" in dead[0]["message"] and dead[0]["record"]["event_id"] == "evt-0903"


def test_on_a_terminal_progress_and_table_are_shown_by_default(work):
    import os
    import pty

    source = write_lines(work / "in.jsonl", records(30))
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*PACKFLOW, "run", "backends:Doubler", "-i", str(source), "-o", "out.jsonl"],
                              cwd=work, stderr=follower, stdout=subprocess.PIPE, timeout=60)
        os.close(follower)
        follower = -1
        screen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the terminal has no writer left
                break
            if not chunk:
                break
            screen += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    text = screen.decode()
    assert "\r" in text and "100%" in text and "ETA" in text and "rec/s" in text  # the redrawn bar
    assert "p50 ms" in text and "records: 30 in, 30 out, 0 dead-lettered" in text


def test_progress_bar_and_summary_formatting():
    import io

    from packflow.cli._summary import ProgressBar, format_summary

    stream = io.StringIO()
    bar = ProgressBar(stream, total_bytes=1000)
    bar.update(10, 250, force=True)
    bar.close(40, 1000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()  # not a terminal: plain lines
    assert lines[0].startswith("[######..................]  25%") and "10 records" in lines[0]
    assert "100%" in lines[1] and "40 records" in lines[1] and "ETA 0:00" in lines[1]
    stats = {"count": 3, "mean_ms": 1.5, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 2.5}
    table = format_summary({"steps": {"total": stats, "execute": stats, "preprocess": stats},
                            "records_in": 5, "records_out": 4, "dead_letters": 1,
                            "dead_letters_by_step": {"decode": 1}, "elapsed_s": 0.5, "records_per_s": 10.0,
                            "runner": {"batches": 1}})
    rows = [line.split()[0] for line in table.splitlines()[2:5]]
    assert rows == ["preprocess", "execute", "total"]
    assert table.splitlines()[-1] == "records: 5 in, 4 out, 1 dead-lettered (decode 1) in 1 batch; 0.50 s, 10 records/s"


def test_a_directory_input_without_an_engine_cannot_start(work):
    (work / "inputs").mkdir()
    done = packflow(work, "run", "backends:Scaled", "-i", str(work / "inputs"))
    assert done.returncode == 2
    assert b"is a directory" in done.stderr and b"--engine" in done.stderr
