"""Start the cgtvigil API in a second process on a free loopback port (benchmarks only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def start_server(env: dict[str, str], workers: int = 1, log: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """(process, base URL) of `cgtvigil serve` with ``env`` and ``workers`` processes, once it answers;
    its output goes to ``log`` (appended) if given."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = log.open("ab") if log is not None else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "cgtvigil.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=sink,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/api/v1/health", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, base
