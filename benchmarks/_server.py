"""Start the cgtvigil API in a second process on a free loopback port (benchmarks only)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def start_server(env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """(process, base URL) of `cgtvigil serve` with ``env`` and ``workers`` processes, once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "cgtvigil.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/api/v1/health", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, base
