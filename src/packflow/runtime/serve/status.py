"""``GET /``: a small HTML status page that refreshes itself."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["render_status_page"]

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh}">
<title>packflow serve: {name}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:right}}
th:first-child,td:first-child{{text-align:left}}.ok{{color:#17702a}}.bad{{color:#a11}}</style></head>
<body><h1>{name} <small>{version}</small></h1>
<p>Readiness: <b class="{cls}">{ready}</b> ({reason}) &middot; uptime {uptime} &middot; worker pid {pid}</p>
<p>{records_in} records in, {records_out} out, {dead} dead letters, {batches} batches,
{rate:.1f} records/s, queue depth {depth}.</p>
<table><tr><th>step</th><th>calls</th><th>errors</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
{rows}</table>
<p><a href="/metrics">/metrics</a> &middot; <a href="/stats">/stats</a> &middot; <a href="/openapi.json">/openapi.json</a>
&middot; this page shows the worker that answered; /metrics covers all workers.</p></body></html>"""


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s"


def _rows(steps: dict[str, dict[str, Any]]) -> str:
    rows = []
    for step, stat in steps.items():
        rows.append(
            f"<tr><td>{html.escape(step)}</td><td>{stat['count']}</td><td>{stat['errors']}</td>"
            f"<td>{stat['p50_ms']:.3f}</td><td>{stat['p95_ms']:.3f}</td><td>{stat['p99_ms']:.3f}</td></tr>"
        )
    return "\n".join(rows) or "<tr><td colspan=6>no calls yet</td></tr>"


def render_status_page(
    name: str, version: str, ready: bool, reason: str, uptime_s: float, snapshot: dict[str, Any] | None, pid: int,
    refresh_s: int = 2,
) -> str:
    """The page's HTML; ``snapshot`` is ``Runner.snapshot().to_dict()`` (None while loading)."""
    snap = snapshot or {}
    return _PAGE.format(
        refresh=refresh_s, name=html.escape(name), version=html.escape(version), cls="ok" if ready else "bad",
        ready="ready" if ready else "not ready", reason=html.escape(reason), uptime=_uptime(uptime_s), pid=pid,
        records_in=snap.get("records_in", 0), records_out=snap.get("records_out", 0), dead=snap.get("dead_letters", 0),
        batches=snap.get("batches", 0), rate=snap.get("records_per_s", 0.0), depth=snap.get("queue_depth", 0),
        rows=_rows(snap.get("steps", {})),
    )
