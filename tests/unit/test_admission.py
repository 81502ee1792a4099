"""The worker's admission control (issue 10): at most ``limit`` requests computed at once, the
others served in arrival order, a slot freed when the answer starts or the request fails."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cgtvigil.api._admission import Admission
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError


class _Recorder:
    """An ASGI app that computes for a while and notes how many requests it held at once."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.order: list[str] = []
        self.streaming = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        self.inside += 1
        self.most = max(self.most, self.inside)
        self.order.append(path)
        try:
            await asyncio.sleep(0.02)
            if path == "/fail":
                raise RuntimeError("the route failed")
            await send({"type": "http.response.start", "status": 200, "headers": []})
        finally:
            self.inside -= 1
        if path == "/slow-download":  # the answer has started: the rest is the client's pace
            await self.streaming.wait()
        await send({"type": "http.response.body", "body": path.encode()})


def _client(app: Admission) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t")


def test_at_most_limit_at_once_and_in_arrival_order() -> None:
    inner = _Recorder()
    app = Admission(inner, limit=2)

    async def main() -> list[int]:
        async with _client(app) as client:
            tasks = []
            for i in range(8):
                tasks.append(asyncio.create_task(client.get(f"/r{i}")))
                await asyncio.sleep(0.001)  # they arrive one after the other
            return [r.status_code for r in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [200] * 8
    assert inner.most == 2
    assert inner.order == [f"/r{i}" for i in range(8)]


def test_a_slot_is_freed_when_the_answer_starts_and_when_a_request_fails() -> None:
    inner = _Recorder()
    app = Admission(inner, limit=1)

    async def main() -> tuple[int, int, bytes]:
        async with _client(app) as client:
            download = asyncio.create_task(client.get("/slow-download"))
            await asyncio.sleep(0.05)  # its headers are sent; its body waits for the client
            failed = await asyncio.wait_for(client.get("/fail"), 2)
            after = await asyncio.wait_for(client.get("/next"), 2)  # the failure freed its slot
            inner.streaming.set()
            return failed.status_code, after.status_code, (await download).content

    failed, after, body = asyncio.run(main())
    assert (failed, after, body) == (500, 200, b"/slow-download")
    assert inner.inside == 0


def test_the_limit_is_a_positive_whole_number(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(_Recorder(), limit=0)
    monkeypatch.setenv("CGTVIGIL_WORKER_CONCURRENCY", "0")
    with pytest.raises(CgtVigilError, match="CGTVIGIL_WORKER_CONCURRENCY must be a positive whole number"):
        Settings.from_env()
    monkeypatch.setenv("CGTVIGIL_WORKER_CONCURRENCY", "6")
    assert Settings.from_env().worker_concurrency == 6


def test_the_same_app_serves_in_a_new_event_loop() -> None:
    """A test client (or a restarted server) runs the app in another event loop: the slots
    are that loop's, not a semaphore bound to a finished one."""
    inner = _Recorder()
    app = Admission(inner, limit=1)

    async def burst() -> list[int]:
        async with _client(app) as client:
            return [r.status_code for r in await asyncio.gather(*(client.get(f"/r{i}") for i in range(3)))]

    assert asyncio.run(burst()) == [200] * 3
    assert asyncio.run(burst()) == [200] * 3
    assert inner.most == 1
