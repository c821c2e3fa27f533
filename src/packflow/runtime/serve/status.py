"""``GET /``: the live status page for browsers, a liveness document for programs.

``GET /`` is content-negotiated: a client that prefers ``text/html`` over JSON (every browser)
gets the status page; everything else — ``Accept: */*``, ``application/json`` or no header, as
the KServe V1 SDK's ``is_server_live`` sends — gets ``{"status": "alive", ...}`` with each
model's readiness. The page is static HTML with its own script and stylesheet, served from the
package (``packflow/runtime/serve/static``; no CDN, no external fonts): the script polls ``/`` (as
JSON) and ``/stats`` and draws its charts itself, so it works in a disconnected network.
"""

from __future__ import annotations

import functools
import os
import time
from importlib import resources
from typing import Any, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["ASSETS", "StatusPage", "prefers_html", "stats_response", "status_document"]

#: The page's files, by URL path: (package file, media type).
ASSETS = {
    "/status/status.js": ("status.js", "text/javascript; charset=utf-8"),
    "/status/status.css": ("status.css", "text/css; charset=utf-8"),
    "/status/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
#: Everything the page loads comes from the server itself; nothing may leave its origin.
_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_JSON_TYPES = ("application/json", "application/*", "*/*")


def prefers_html(accept: str | None) -> bool:
    """Whether an ``Accept`` header ranks HTML above JSON (a tie, ``*/*`` or no header: JSON)."""
    if not accept:
        return False
    html_q = json_q = 0.0
    for media, quality in _parse_accept(accept):
        if media in _HTML_TYPES:
            html_q = max(html_q, quality)
        elif media in _JSON_TYPES:
            json_q = max(json_q, quality)
    return html_q > json_q


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    """``(media type, q)`` per entry of an ``Accept`` header; a malformed ``q`` counts as 0."""
    entries = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            entries.append((media.lower(), quality))
    return entries


def status_document(models: dict[str, dict[str, Any]], uptime_s: float) -> dict[str, Any]:
    """The JSON answer of ``GET /``: KServe V1 liveness (``status: alive``) plus every model's readiness."""
    waiting = [f"{name}: {m['reason']}" for name, m in models.items() if not m["ready"]]
    return {
        "status": "alive",
        "live": True,
        "ready": not waiting,
        "reason": "; ".join(waiting) or "ready",
        "pid": os.getpid(),
        "uptime_s": round(uptime_s, 3),
        "time": time.time(),
        "models": models,
    }


class StatusPage:
    """The routes of the page: ``GET /`` (negotiated) and the page's assets, read once from the package."""

    def __init__(self, describe: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """``describe()`` answers the JSON document of ``GET /`` (see :func:`status_document`)."""
        self.describe = describe
        self.page, self.assets = _read_assets()

    def routes(self) -> list[Route]:
        """``/`` and one route per asset."""
        return [Route("/", self.root, methods=["GET"]), *(Route(path, self.asset, methods=["GET"]) for path in self.assets)]

    async def root(self, request: Request) -> Response:
        if prefers_html(request.headers.get("accept")):
            return Response(self.page, media_type="text/html; charset=utf-8", headers=_headers())
        body = orjson.dumps(await self.describe())
        return Response(body, media_type="application/json", headers={"Vary": "Accept", "Cache-Control": "no-store"})

    async def asset(self, request: Request) -> Response:
        body, media = self.assets[request.url.path]
        return Response(body, media_type=media, headers=_headers())


@functools.lru_cache(maxsize=1)
def _read_assets() -> tuple[bytes, dict[str, tuple[bytes, str]]]:
    """The page and its assets from the package data (read once per process)."""
    folder = resources.files("packflow.runtime.serve") / "static"
    assets = {path: ((folder / file).read_bytes(), media) for path, (file, media) in ASSETS.items()}
    return (folder / "status.html").read_bytes(), assets


def stats_response(data: Any) -> Response:
    """``GET /stats``: ``data`` as JSON, with the answering worker's pid in ``X-Packflow-Worker``."""
    headers = {"X-Packflow-Worker": str(os.getpid()), "Cache-Control": "no-store"}
    return Response(orjson.dumps(data), media_type="application/json", headers=headers)


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": _POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
        "Vary": "Accept",
    }
