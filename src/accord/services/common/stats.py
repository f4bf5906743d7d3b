"""Counts of the requests a service answered: what a benchmark or a test of request
economy reads (``100 changes cost 5 requests``) without instrumenting the client."""

from __future__ import annotations

import collections
import threading

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestStats", "StatsMiddleware"]


class RequestStats:
    """Requests by method and by status, since the start or the last :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_method.values())

    def record(self, method: str, status: int) -> None:
        with self._lock:
            self.by_method[method] += 1
            self.by_status[status] += 1

    def reset(self) -> None:
        with self._lock:
            self.by_method.clear()
            self.by_status.clear()


class StatsMiddleware:
    """Counts every HTTP request under ``prefix`` with the status it was answered with
    (a batch is one request, as Dataverse counts it; a dropped connection counts as 0)."""

    def __init__(self, app: ASGIApp, stats: RequestStats, *, prefix: str | tuple[str, ...]) -> None:
        self.app = app
        self.stats = stats
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        status = 0
        recorded = False

        async def watch(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the answer's last part leaves: a client that reads the
                # count right after its answer arrived finds its request in it.
                self.stats.record(str(scope["method"]), status)
                recorded = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not recorded:
                self.stats.record(str(scope["method"]), status)
