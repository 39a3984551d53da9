"""Run the API with uvicorn, with time and size limits on every connection.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive`, but a connection that
never sends a complete request head (opened and left idle, or half-sent, the "slowloris"
pattern) is kept open for ever: two thousand of them slowed `/search` from 20 ms to seconds.
The protocol classes below give each request head `HEAD_TIMEOUT_S` to arrive and cap its size at
`MAX_HEAD_BYTES`; `limit_concurrency` answers 503 beyond that many connections and tasks (idle
connections count, so it stays far above what the head timeout lets pile up: with 2,000 idle or
half-sent connections open, /search answered in 21 ms median and all 2,000 were closed within 12 s,
eval/idle_connections.py).

`kb serve` uses httptools (C parser) when it is installed (`uvicorn[standard]`), else h11 (pure
Python, about 1 ms more CPU per request: eval/LOAD.md).
"""
from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:   # httptools not installed: h11 only
    HttpToolsProtocol = None

HEAD_TIMEOUT_S = 10          # from connection (or end of the last response) to a complete request head
KEEP_ALIVE_S = 5             # idle keep-alive connections
MAX_HEAD_BYTES = 64 * 1024   # request line and headers
LIMIT_CONCURRENCY = 4096      # open connections + running requests; beyond: 503 (idle ones count too)


class HeadTimeout:
    """A deadline for each request head: the connection closes when none arrives in time (mixin)."""

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


class HeadTimeoutH11Protocol(HeadTimeout, H11Protocol):
    """h11 (which caps the head's size itself, `h11_max_incomplete_event_size`) with the head deadline."""


if HttpToolsProtocol is not None:
    class HeadTimeoutHttpToolsProtocol(HeadTimeout, HttpToolsProtocol):
        """httptools with the head deadline and a cap on the head's size, counted twice: the parsed
        request line and headers, and the bytes of every read that leaves a head incomplete (so
        httptools never buffers much more than the cap). Beyond `MAX_HEAD_BYTES` the request gets 400
        and the connection closes, as with h11."""

        max_head_bytes = MAX_HEAD_BYTES

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._head_bytes, self._parsed_head, self._in_body = 0, 0, False
            super().connection_made(transport)

        def on_message_begin(self) -> None:
            self._head_bytes, self._parsed_head, self._in_body = 0, 0, False
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_body = True
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._head_bytes, self._in_body = 0, False
            super().on_response_complete()

        def on_url(self, url: bytes) -> None:
            self._count_head(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count_head(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _count_head(self, n: int) -> None:
            self._parsed_head += n
            if self._parsed_head > self.max_head_bytes:
                # a callback error: uvicorn answers 400 "Invalid HTTP request received." and closes
                raise httptools.HttpParserError("request head too large")

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._in_body and not self.transport.is_closing():   # still inside a request head
                self._head_bytes += len(data)
                if self._head_bytes > self.max_head_bytes:
                    self.send_400_response("Request head too large.")
else:
    HeadTimeoutHttpToolsProtocol = None


def run(app, host: str, port: int, log_level: str = "info") -> None:
    http = HeadTimeoutHttpToolsProtocol or HeadTimeoutH11Protocol
    uvicorn.run(app, host=host, port=port, log_level=log_level, http=http,
                timeout_keep_alive=KEEP_ALIVE_S, limit_concurrency=LIMIT_CONCURRENCY,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES)
