"""Run `kb serve` as a child process on a free loopback port (tests and the load script)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir, extra_env: dict | None = None, timeout: float = 180.0,
                 output=None) -> tuple[subprocess.Popen, str]:
    """Start `kb serve` over `data_dir`; return (process, base_url) once /health answers 200.

    By default the server's output (stderr merged) goes to a temporary file, read back if the server
    dies: never to a pipe nobody reads, which fills after ~64 KB of access log and blocks the server."""
    if output is None:
        output = tempfile.TemporaryFile()
    port = free_port()
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--data-dir", str(data_dir),
                             "--host", "127.0.0.1", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = ""
            if hasattr(output, "seek"):
                output.seek(0)
                out = output.read().decode(errors="replace")
            raise RuntimeError(f"kb serve exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError("kb serve did not answer /health in time")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()
