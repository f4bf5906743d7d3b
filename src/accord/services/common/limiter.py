"""Service protection: a request budget per sliding window, and a concurrency cap.

Dataverse counts requests per user over a 5-minute sliding window (6000 by default) and
caps concurrent requests (52); a breach is 429 with ``Retry-After`` and an error code. The
limits here are configurable so that a test can meet them with a handful of requests.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Budget", "LimitCodes", "RequestLimiter", "ServiceProtectionMiddleware"]


@dataclass(frozen=True)
class Budget:
    """``requests`` per ``window`` seconds per caller, and at most ``concurrent`` at once."""

    requests: int = 6000
    window: float = 300.0
    concurrent: int = 52


@dataclass(frozen=True)
class LimitCodes:
    """The error codes a breach answers with (the service's own)."""

    requests: str
    concurrent: str


class RequestLimiter:
    """Sliding-window request counts per caller key (thread-safe)."""

    def __init__(self, budget: Budget, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._active: dict[str, int] = collections.defaultdict(int)
        self._lock = threading.Lock()

    def admit(self, key: str) -> float | None:
        """Count a request; None if within budget, else seconds until one is admitted."""
        now = self._clock()
        with self._lock:
            seen = self._seen[key]
            while seen and seen[0] <= now - self.budget.window:
                seen.popleft()
            if len(seen) >= self.budget.requests:
                return seen[0] + self.budget.window - now
            seen.append(now)
            return None

    def remaining(self, key: str) -> int:
        """Requests left in the current window (Dataverse's burst-remaining debug header)."""
        with self._lock:
            return max(self.budget.requests - len(self._seen[key]), 0)

    def enter(self, key: str) -> bool:
        """Start a concurrent request; False (and nothing counted) if at the cap."""
        with self._lock:
            if self._active[key] >= self.budget.concurrent:
                return False
            self._active[key] += 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._active[key] -= 1


class ServiceProtectionMiddleware:
    """429 with ``Retry-After`` when the caller is over budget (all tokens: one user)."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: Callable[[], RequestLimiter | None],
        *,
        prefix: str | tuple[str, ...],
        codes: LimitCodes,
        remaining_header: bytes | None = b"x-ms-ratelimit-burst-remaining-xrm-requests",
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.prefix = prefix
        self.codes = codes
        self.remaining_header = remaining_header
        """Dataverse's debug header of requests left (None: the service sends none)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter()
        if (
            limiter is None
            or scope["type"] != "http"
            or not str(scope["path"]).startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        # NOTE: every token the service issues is the one application user, and the limits
        # are per user: a client cannot escape them by fetching a new token.
        key = "principal"
        budget = limiter.budget
        wait = limiter.admit(key)
        if wait is not None:
            message = (
                f"Number of requests exceeded the limit of {budget.requests} over time window "
                f"of {budget.window:g} seconds."
            )
            await _throttled(send, self.codes.requests, message, wait)
            return
        if not limiter.enter(key):
            message = f"Number of concurrent requests exceeded the limit of {budget.concurrent}."
            await _throttled(send, self.codes.concurrent, message, 1)
            return
        remaining = str(limiter.remaining(key)).encode()
        header = self.remaining_header

        async def send_with_remaining(message: Message) -> None:
            if header and message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((header, remaining))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_remaining)
        finally:
            limiter.leave(key)


async def _throttled(send: Send, code: str, message: str, wait: float) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json; odata.metadata=minimal"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(max(math.ceil(wait), 1)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
