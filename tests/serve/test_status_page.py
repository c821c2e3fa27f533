"""The status page at ``/``: content negotiation, its own assets, and a real headless chromium.

The browser tests start real ``packflow serve`` processes (one model and two), open ``/`` in
Debian's ``chromium`` driven by Playwright (the system browser, never a downloaded one), send
traffic through a real HTTP client and watch the page's numbers and charts change.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from serve_backends import GATE_ENV
from serve_helpers import ServerProcess, make_app

from packflow.runtime.serve.history import StatsHistory
from packflow.runtime.serve.status import ASSETS, prefers_html

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

STATIC = Path(__file__).resolve().parents[2] / "src" / "packflow" / "runtime" / "serve" / "static"
CHROME_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
QUALITY = json.dumps({"feature_names": ["x", "poison"]})
TIMEOUT_MS = 15_000


# -- content negotiation and assets (in-process) --------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = make_app("Identity")
    with TestClient(app) as test_client:
        assert app.state.loaded.wait(10)
        yield test_client


@pytest.mark.parametrize("accept", [CHROME_ACCEPT, "text/html", "application/json;q=0.5, text/html"])
def test_browsers_get_the_page(client, accept):
    response = client.get("/", headers={"Accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    assert re.findall(r'(?:src|href)="(/status/[^"]+)"', response.text) == [
        "/status/favicon.svg", "/status/status.css", "/status/status.js",
    ]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html;q=0.5, application/json", "text/*"])
def test_programs_get_liveness_json(client, accept):
    headers = {"Accept": accept} if accept else {}
    response = client.get("/", headers=headers)
    assert response.headers["content-type"] == "application/json" and response.headers["vary"] == "Accept"
    body = response.json()
    assert body["status"] == "alive" and body["live"] is True and body["ready"] is True
    assert body["models"] == {"Identity": {"version": "1.2.3", "ready": True, "reason": "ready"}}
    assert isinstance(body["pid"], int) and body["uptime_s"] >= 0


def test_assets_are_served_by_packflow_and_load_nothing_from_elsewhere(client):
    for path, (file, media) in ASSETS.items():
        response = client.get(path)
        assert response.status_code == 200 and response.headers["content-type"] == media
        assert response.content == (STATIC / file).read_bytes()
    for file in ("status.html", "status.js", "status.css"):
        text = (STATIC / file).read_text()
        external = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text)) - {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
        assert not external and "@import" not in text and "url(" not in text, (file, external)


def test_stats_names_the_worker_and_keeps_its_shape(client):
    client.post("/invoke", json={"a": 1})
    response = client.get("/stats")
    assert response.headers["x-packflow-worker"] == str(client.get("/").json()["pid"])
    assert {"records_in", "steps", "dead_letters_by_step", "batch_sizes", "data_quality"} <= set(response.json())


def test_the_wheel_ships_the_page(tmp_path):
    """The page's files are package data: a wheel built from this tree holds every one of them."""
    root = STATIC.parents[4]
    shutil.copytree(root / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, tmp_path / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(tmp_path), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    with zipfile.ZipFile(next((tmp_path / "dist").glob("packflow-*.whl"))) as wheel:
        shipped = {n.rsplit("/", 1)[1] for n in wheel.namelist() if n.startswith("packflow/runtime/serve/static/")}
    assert shipped == {"status.html", *(file for file, _ in ASSETS.values())}


@given(st.text(max_size=80))
def test_accept_parser_never_raises_and_json_never_tips_it_to_html(header):
    verdict = prefers_html(header)
    assert isinstance(verdict, bool)
    assert prefers_html(header + ", application/json") <= verdict


MEDIA = ["text/html", "application/xhtml+xml", "application/json", "application/*", "*/*", "image/webp", "text/plain"]


@given(st.lists(st.tuples(st.sampled_from(MEDIA), st.integers(0, 10)), min_size=1, max_size=6))
def test_accept_html_wins_only_with_a_strictly_higher_q(entries):
    header = ", ".join(f"{media};q={q / 10}" for media, q in entries)
    best = {kind: max([q for m, q in entries if m in kinds] or [0]) for kind, kinds in
            (("html", MEDIA[:2]), ("json", MEDIA[2:5]))}
    assert prefers_html(header) is (best["html"] > best["json"])


@pytest.mark.parametrize(("header", "html"), [
    ("text/html", True), ("application/xhtml+xml", True), ("text/html;q=0", False), ("text/html;q=oops", False),
    ("*/*", False), ("", False), ("text/html, */*;q=0.1", True), ("application/json, text/html", False),
])
def test_accept_examples(header, html):
    assert prefers_html(header) is html


# -- a real browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra has it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"], timeout=TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page with its console messages, page errors and requested URLs recorded."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.origin = origin
        self.page = browser.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.console: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.urls.append(r.url))
        self.page.goto(origin + "/")

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.text_content() or ""

    def wait(self, selector: str, expected: str) -> None:
        """Wait until the first element matching ``selector`` shows ``expected``."""
        self.page.wait_for_function(
            "([s, e]) => { const n = document.querySelector(s); return n !== null && n.textContent === e; }",
            arg=[selector, expected],
        )

    def number(self, selector: str, attribute: str) -> float:
        return float(self.page.locator(selector).first.get_attribute(attribute) or 0)

    def check_clean(self) -> None:
        assert self.console == [], self.console
        foreign = [u for u in self.urls if not u.startswith(self.origin + "/")]
        assert self.urls and not foreign, foreign
        self.page.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ServerProcess] = []

    def start(*targets: str, env: dict[str, str] | None = None, wait: str = "/health/ready") -> ServerProcess:
        server = ServerProcess(targets[0], *targets[1:], "--config", QUALITY, env=env)
        servers.append(server)
        server.wait_status(wait, 200)
        return server

    yield start
    for server in servers:
        server.stop()


def _send(origin: str, path: str, rounds: int, poison_at: int | None = None) -> int:
    """POST ``rounds`` batches of 5 records (one poison record in round ``poison_at``); records sent."""
    sent = 0
    with httpx.Client(base_url=origin, timeout=10) as http:
        for round_ in range(rounds):
            batch = [{"x": round_ * 5 + i} for i in range(5)]
            if round_ == poison_at:
                batch[2] = {"x": 0, "poison": True}
            response = http.post(path, json=batch)
            assert response.status_code == 200, response.text
            sent += len(batch)
            time.sleep(0.35)  # spread over several polls: the rate chart gets several points
    return sent


def _section(name: str) -> str:
    return f'[data-model="{name}"]'


def test_page_renders_one_model_and_follows_its_traffic(browser, serve):
    server = serve("status_backends:Scored")
    origin = f"http://127.0.0.1:{server.port}"
    watched = Watched(browser, origin)
    model = _section("Scored")
    watched.wait(f"{model} [data-stat='records_in']", "0")
    assert watched.text(f"{model} h2").startswith("Scored") and watched.text("#readiness") == "ready"
    assert watched.text("#pid") == str(httpx.get(origin + "/", timeout=10).json()["pid"])
    for step in ("preprocess", "execute", "total"):
        assert watched.page.locator(f"{model} tr[data-step='{step}']").count() == 1
        assert watched.page.locator(f"{model} figure[data-step='{step}'] path[data-series='p95']").count() == 1
    throughput = f"{model} figure[data-chart='throughput'] path[data-series='records']"
    points_before = watched.number(throughput, "data-points")

    sent = _send(origin, "/invoke", rounds=8, poison_at=3)
    watched.wait(f"{model} [data-stat='records_in']", str(sent))
    watched.wait(f"{model} [data-stat='dead_letters']", "1")
    watched.wait(f"{model} tr[data-dead-step='execute'] td", "1")
    watched.wait(f"{model} tr[data-field='poison'] td", "1")  # present once: the data-quality counters
    assert watched.number(throughput, "data-points") > points_before
    assert watched.number(throughput, "data-max") > 0
    assert watched.number(f"{model} figure[data-chart='throughput'] path[data-series='dead letters']", "data-max") > 0
    assert watched.number(f"{model} rect[data-bucket='8']", "data-count") >= 1  # batches of 5 records
    calls, errors = (int(c) for c in watched.page.locator(f"{model} tr[data-step='execute'] td").all_text_contents()[:2])
    assert calls >= 7 and errors >= 1  # the poison batch failed, then was bisected
    watched.check_clean()


def test_page_shows_every_model_of_a_two_model_server_with_the_servers_history(browser, serve):
    server = serve("a=status_backends:Scored", "b=status_backends:Scored")
    origin = f"http://127.0.0.1:{server.port}"
    sent = _send(origin, "/models/a/invoke", rounds=8, poison_at=1)  # before the page opens: from /stats/history
    time.sleep(1.2)  # the sampler has seen the last batch
    watched = Watched(browser, origin)
    watched.wait(f"{_section('a')} [data-stat='records_in']", str(sent))
    throughput = f"{_section('a')} figure[data-chart='throughput'] path[data-series='records']"
    assert watched.number(throughput, "data-points") >= 3 and watched.number(throughput, "data-max") > 0
    assert watched.text(f"{_section('a')} tr[data-dead-step='execute'] td") == "1"
    watched.wait(f"{_section('b')} [data-stat='records_in']", "0")
    assert watched.page.locator(f"{_section('b')} figure[data-chart='throughput'] svg path").count() == 2
    with httpx.Client(base_url=origin, timeout=10) as http:
        predicted = http.post("/v1/models/b:predict", json={"instances": [{"x": 1}, {"x": 2}, {"x": 3}]})
    assert predicted.json() == {"predictions": [{"y": 2}, {"y": 4}, {"y": 6}]}
    watched.wait(f"{_section('b')} [data-stat='records_in']", "3")
    assert watched.text(f"{_section('b')} [data-stat='dead_letters']") == "0"
    assert watched.page.locator(f"{_section('b')} tr[data-dead-step]").count() == 0
    assert watched.text(f"{_section('a')} [data-stat='records_in']") == str(sent)
    watched.check_clean()


def test_history_keeps_compact_samples_of_loaded_models_only():
    snapshots: dict[str, Any] = {"a": {"records_in": 1, "uptime_s": 2.0, "steps": {"execute": {"p50_ms": 1.0, "p95_ms": 2.0,
                                                                                                 "p99_ms": 3.0, "count": 9}}},
                                 "b": None}
    history = StatsHistory({"a": lambda: snapshots["a"], "b": lambda: snapshots["b"]}, keep=3)
    for i in range(5):
        snapshots["a"] = {**snapshots["a"], "records_in": i}
        history.sample(now=100.0 + i)
    samples = history.to_dict()["models"]
    assert list(samples) == ["a"] and [s["records_in"] for s in samples["a"]] == [2, 3, 4]
    assert samples["a"][-1]["t"] == 104.0 and samples["a"][-1]["steps"] == {"execute": {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}}


def test_history_endpoint_samples_while_the_app_runs(client):
    client.post("/invoke", json=[{"a": 1}, {"a": 2}])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        body = client.get("/stats/history").json()
        recent = body["models"].get("Identity", [])
        if recent and recent[-1]["records_in"] >= 2:
            break
        time.sleep(0.2)
    assert recent and recent[-1]["records_in"] >= 2 and body["period_s"] == 1.0
    assert {"t", "uptime_s", "dead_letters", "queue_depth", "in_flight", "steps"} <= set(recent[-1])


def test_page_shows_a_loading_model_until_it_is_ready(browser, serve, tmp_path):
    gate = tmp_path / "gate"
    server = serve("a=status_backends:Scored", "slow=serve_backends:Gated", env={GATE_ENV: str(gate)}, wait="/health/live")
    watched = Watched(browser, f"http://127.0.0.1:{server.port}")
    watched.wait(f"{_section('slow')} [data-field='ready']", "not ready")
    assert "loading" in watched.text(f"{_section('slow')} [data-field='reason']")
    assert watched.text("#readiness") == "not ready"
    watched.wait(f"{_section('a')} [data-field='ready']", "ready")
    assert watched.text(f"{_section('slow')} [data-stat='records_in']") == "–"  # no snapshot while it loads
    gate.touch()
    watched.wait(f"{_section('slow')} [data-field='ready']", "ready")
    watched.wait("#readiness", "ready")
    watched.wait(f"{_section('slow')} [data-stat='records_in']", "0")
    assert watched.text(f"{_section('slow')} [data-field='reason']") == ""
    watched.check_clean()


# -- the KServe V1 SDK's liveness check is GET / ----------------------------------------------------


@pytest.mark.parametrize("targets", [("status_backends:Scored",), ("a=status_backends:Scored", "b=status_backends:Scored")])
def test_kserve_v1_sdk_is_server_live(serve, targets):
    from test_clients import kserve_python, run_client

    python = kserve_python()
    server = serve(*targets)
    seen = run_client("kserve_live.py", f"http://127.0.0.1:{server.port}", python=python)
    assert seen == {"v1_live": True, "v2_live": True}
