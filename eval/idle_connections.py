"""Idle and half-sent connections against `kb serve`: are they closed, and does /search stay fast?

Starts `kb serve` over DATA_DIR, measures /search latency (median, max of 20 requests), opens N
connections (half of them idle, half with a half-sent request head), measures again, waits past the
server's head timeout and counts the connections the server closed. Stops by itself.

    KB_EMBEDDER=hash python eval/idle_connections.py DATA_DIR [N=2000]
"""
from __future__ import annotations

import resource
import socket
import statistics
import sys
import time

import httpx

from api.process import start_server, stop_server
from api.serving import HEAD_TIMEOUT_S


def latency(url: str, n: int = 20) -> tuple[float, float]:
    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(n):
            start = time.perf_counter()
            client.get("/search", params={"q": "磷石膏", "k": 10}).raise_for_status()
            out.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(out), 1), round(max(out), 1)


def main() -> None:
    data_dir, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1024, max(n + 1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    proc, url = start_server(data_dir)
    try:
        host, port = url.removeprefix("http://").split(":")
        print("search ms (median, max) before:", latency(url))
        socks = []
        for i in range(n):
            s = socket.create_connection((host, int(port)))
            if i % 2:
                s.sendall(b"GET /search?q=x HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        print(f"with {n} idle or half-sent connections:", latency(url))
        time.sleep(HEAD_TIMEOUT_S + 2)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            s.close()
        print(f"closed by the server after {HEAD_TIMEOUT_S + 2} s: {closed}/{n}; search ms:", latency(url))
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
