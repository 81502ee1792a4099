"""Admission control of one worker process (issue 10, the p95 under load).

A worker computes at most ``limit`` requests at once; the others wait for a slot in the order
they arrived. Python's global interpreter lock lets one thread of a process run at a time, so
twenty requests computed together in one worker each take twenty times as long, and the
costliest page the longest of all; a few at once still overlap one request's database round
trips with another's Python. A slot is freed when the answer starts (a slow reader of a large
download holds none) or when the request fails."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Admission"]


class Admission:
    """ASGI middleware: at most ``limit`` HTTP requests of this process past it at once (FIFO)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.app, self.limit = app, limit
        # made in the event loop that serves (a test client may run the app in a new loop)
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.limit))
        slots = self._slots[1]
        await slots.acquire()  # asyncio's semaphore wakes its waiters in arrival order
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                slots.release()

        async def started(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, started)
        finally:
            release()
