"""Run the API with uvicorn, with time and size limits on every connection.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that
never sends a complete request head (opened and left idle, or half-sent, the "slowloris"
pattern) is kept open for ever: two thousand of them slowed `/search` from 20 ms to seconds.
`HeadTimeoutH11Protocol` gives each request head `HEAD_TIMEOUT_S` to arrive; h11 caps the head's
size; `limit_concurrency` answers 503 beyond that many connections and tasks (idle connections count,
so it stays far above what the head timeout lets pile up: with 2,000 idle or half-sent connections
open, /search answered in 21 ms median and all 2,000 were closed within 12 s, eval/idle_connections.py).
"""
from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT_S = 10          # from connection (or end of the last response) to a complete request head
KEEP_ALIVE_S = 5             # idle keep-alive connections
MAX_HEAD_BYTES = 64 * 1024   # request line and headers
LIMIT_CONCURRENCY = 4096      # open connections + running requests; beyond: 503 (idle ones count too)


class HeadTimeoutH11Protocol(H11Protocol):
    """h11 with a deadline for each request head: the connection closes when none arrives in time."""

    head_timeout = HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        # armed with the finished cycle before uvicorn handles any pipelined request: a request that
        # starts (now or later) replaces the cycle, and the timer then leaves the connection alone
        self._arm_head_timer()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out, self.cycle)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_timed_out(self, cycle_when_armed) -> None:
        self._head_timer = None
        if self.cycle is cycle_when_armed and not self.transport.is_closing():   # no new request began
            self.transport.close()


def run(app, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=HeadTimeoutH11Protocol,
                timeout_keep_alive=KEEP_ALIVE_S, limit_concurrency=LIMIT_CONCURRENCY,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES)
