"""Counts of the requests a service answered: what a benchmark or a test of request
economy reads (``100 changes cost 5 requests``) without instrumenting the client.

One counter per service, kept three ways: by method, by status and, where the service names
its requests' kinds (the local Dataverse: ``GET accounts``, ``POST accounts/CreateMultiple``,
``POST $batch``), by kind.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestStats", "StatsMiddleware"]


class RequestStats:
    """Requests by method, by status and by kind, since the start or the last :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()
        self.by_kind: collections.Counter[str] = collections.Counter()
        """By the service's kind of request (empty where the service names none)."""

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_method.values())

    def kinds(self) -> collections.Counter[str]:
        """A copy of :attr:`by_kind`, taken under the lock (requests may be answered now)."""
        with self._lock:
            return collections.Counter(self.by_kind)

    def record(self, method: str, status: int, kind: str | None = None) -> None:
        with self._lock:
            self.by_method[method] += 1
            self.by_status[status] += 1
            if kind is not None:
                self.by_kind[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self.by_method.clear()
            self.by_status.clear()
            self.by_kind.clear()


class StatsMiddleware:
    """Counts every HTTP request under ``prefix`` with the status it was answered with
    (a batch is one request, as Dataverse counts it; a dropped connection counts as 0), and
    by ``kind(method, path below prefix)`` where given."""

    def __init__(
        self,
        app: ASGIApp,
        stats: RequestStats,
        *,
        prefix: str | tuple[str, ...],
        kind: Callable[[str, str], str] | None = None,
    ) -> None:
        self.app = app
        self.stats = stats
        self.prefix = prefix
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        status = 0
        method = str(scope["method"])
        kind = None
        if self.kind is not None:
            below = path[len(self.prefix) :] if isinstance(self.prefix, str) else path
            kind = self.kind(method, below)
        recorded = False

        async def watch(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the answer's last part leaves: a client that reads the
                # count right after its answer arrived finds its request in it.
                self.stats.record(method, status, kind)
                recorded = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not recorded:
                self.stats.record(method, status, kind)
