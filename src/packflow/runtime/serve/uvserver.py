"""uvicorn with packflow's connection rules: a read timeout, and a drain that answers JSON 503.

- **Read timeout.** uvicorn only times out idle keep-alive connections; a client that connects
  and sends half a request holds its connection (and, with a half-sent body, a request task)
  forever. A sweep closes every connection that has waited longer than ``read_timeout_s`` for
  the rest of a request: no bytes yet, part of the headers, or part of the body.
- **Drain.** At shutdown, readiness turns red and new submissions are refused at once; requests
  already queued or computing get ``graceful_timeout_s`` to finish. Whatever is still waiting
  then is answered ``503 ShuttingDown`` (JSON) and counted in ``BackendState.cut_off``, so the
  worker can exit non-zero. uvicorn's own cancellation (which answers plain-text 500s) is kept
  only as a back-stop, a little later.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import uvicorn

from packflow.runtime.serve.state import BackendState

__all__ = ["PackflowServer", "StalledConnections"]

#: How much later than our own cut-off uvicorn may cancel what is left.
BACKSTOP_S = 2.0


class StalledConnections:
    """Which open connections have waited too long for the client to finish sending a request."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._since: dict[Any, tuple[Any, bool, float]] = {}

    def sweep(self, connections: set, now: float) -> list:
        """The connections waiting on the client for over ``timeout_s`` (callers close them)."""
        since: dict[Any, tuple[Any, bool, float]] = {}
        stalled = []
        for conn in list(connections):
            cycle = getattr(conn, "cycle", None)
            waiting = cycle is None or bool(getattr(cycle, "response_complete", False) or getattr(cycle, "more_body", False))
            previous = self._since.get(conn)
            start = previous[2] if previous is not None and previous[0] is cycle and previous[1] == waiting else now
            since[conn] = (cycle, waiting, start)
            if waiting and now - start > self.timeout_s:
                stalled.append(conn)
        self._since = since
        return stalled


class PackflowServer(uvicorn.Server):
    """A uvicorn server that reaps stalled connections and drains every served model's :class:`BackendState`."""

    def __init__(self, config: uvicorn.Config, states: list[BackendState], read_timeout_s: float) -> None:
        super().__init__(config)
        self.states = states
        self.read_timeout_s = read_timeout_s
        self._reaper: asyncio.Task | None = None

    @property
    def cut_off(self) -> int:
        """Requests answered 503 because the drain ran out of time, over all models."""
        return sum(state.cut_off for state in self.states)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._reaper = asyncio.ensure_future(self._reap(StalledConnections(self.read_timeout_s)))

    async def _reap(self, stalled: StalledConnections) -> None:
        interval = min(1.0, stalled.timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            for conn in stalled.sweep(self.server_state.connections, time.monotonic()):
                transport = getattr(conn, "transport", None)
                if transport is not None and not transport.is_closing():
                    transport.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        remaining = min([state.begin_drain() for state in self.states], default=0.0)
        timer = asyncio.get_running_loop().call_later(remaining, self._cut_off_waiting)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()
            if self._reaper is not None:
                self._reaper.cancel()


    def _cut_off_waiting(self) -> None:
        for state in self.states:
            state.cut_off_waiting()


def served_states(app: Any) -> list[BackendState]:
    """The backend state of each model the app serves (one, or one per model of a several-model app)."""
    apps = getattr(app, "apps", None)
    return [sub.state for sub in apps.values()] if isinstance(apps, dict) else [app.state]


def backstop_timeout(graceful_timeout_s: float) -> float:
    """uvicorn's ``timeout_graceful_shutdown``: after packflow's own cut-off has answered."""
    return graceful_timeout_s + BACKSTOP_S
