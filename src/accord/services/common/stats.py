"""Counts of the requests a service answered: what a benchmark or a test of request
economy reads (``100 changes cost 5 requests``) without instrumenting the client.

One counter per service, kept three ways: by method, by status and, where the service names
its requests' kinds (the local Dataverse: ``GET accounts``, ``POST accounts/CreateMultiple``,
``POST $batch``), by kind; and by route (``"GET customers $filter"``), with the requests inside
``$batch``es where the service counts them (the local Business Central does).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestStats", "StatsMiddleware"]


class RequestStats:
    """Requests by method, by status, by kind and by route, since the start or the last
    :meth:`reset`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: collections.Counter[str] = collections.Counter()
        self.by_status: collections.Counter[int] = collections.Counter()
        self.by_kind: collections.Counter[str] = collections.Counter()
        """By the service's kind of request (empty where the service names none)."""
        self.by_route: collections.Counter[str] = collections.Counter()
        """Method and the path's last segment without its key (``"PATCH customers"``,
        ``"GET $metadata"``), and ``$filter`` where the query has one (``"GET customers
        $filter"``): which requests a figure is made of."""
        self.batch_parts: collections.Counter[str] = collections.Counter()
        """The requests inside ``$batch``es, by route as above (where the service counts
        them: the local Business Central does)."""
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        """``$batch``es by the number of requests in them (where counted, as above)."""

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_method.values())

    def kinds(self) -> collections.Counter[str]:
        """A copy of :attr:`by_kind`, taken under the lock (requests may be answered now)."""
        with self._lock:
            return collections.Counter(self.by_kind)

    def record(
        self, method: str, status: int, kind: str | None = None, path: str = "", query: str = ""
    ) -> None:
        with self._lock:
            self.by_method[method] += 1
            self.by_status[status] += 1
            if kind is not None:
                self.by_kind[kind] += 1
            self.by_route[f"{method} {route(path, query)}".rstrip()] += 1

    def record_batch(self, size: int) -> None:
        """One ``$batch`` of ``size`` requests."""
        with self._lock:
            self.batch_sizes[size] += 1

    def record_part(self, method: str, path: str, query: str = "") -> None:
        """One request inside a ``$batch``."""
        with self._lock:
            self.batch_parts[f"{method} {route(path, query)}".rstrip()] += 1

    def reset(self) -> None:
        with self._lock:
            self.by_method.clear()
            self.by_status.clear()
            self.by_kind.clear()
            self.by_route.clear()
            self.batch_parts.clear()
            self.batch_sizes.clear()


def route(path: str, query: str = "") -> str:
    """The last segment of a request path without its key: ``/.../companies(1)/customers(2)``
    is ``customers``; ``customers $filter`` when the query filters."""
    last = path.rstrip("/").rsplit("/", 1)[-1].split("(", 1)[0]
    return f"{last} $filter" if "$filter=" in unquote(query) else last


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
        query = bytes(scope.get("query_string") or b"").decode("latin-1")
        recorded = False

        async def watch(message: Message) -> None:
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the answer's last part leaves: a client that reads the
                # count right after its answer arrived finds its request in it.
                self.stats.record(method, status, kind, path, query)
                recorded = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not recorded:
                self.stats.record(method, status, kind, path, query)
