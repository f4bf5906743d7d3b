"""Fault injection: latency, 429 storms, 5xx answers and dropped connections, by request.

A :class:`FaultConfig` is plain data; :class:`FaultMiddleware` reads the one its owner holds
*now* (a callable), so a test can turn faults on and off on a running server. Draws come from
one ``random.Random``, seeded afresh each time a new configuration is set, so a run with a
seed meets the same faults in the same order (given the same requests).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FaultConfig", "FaultMiddleware"]


@dataclass
class FaultConfig:
    """What goes wrong, as rates per request (0 to 1). All off by default.

    Each request makes one draw per fault whose rate is above 0, in this order, stopping at
    the first that hits: a 429 storm, an error status, a drop before, a drop after. With a
    seed the sequence is reproducible (tests choose seeds for the pattern they want).
    """

    latency_ms: float = 0.0
    """Added before every request is handled."""
    error_rate: float = 0.0
    """Requests answered ``error_status`` without being handled."""
    error_status: int = 503
    throttle_rate: float = 0.0
    """Requests that start a 429 storm of ``throttle_burst`` answers in a row (a storm runs
    its course even if the rate is turned down meanwhile; only ``faults = None`` ends it)."""
    throttle_burst: int = 1
    retry_after: int = 1
    """Seconds in the ``Retry-After`` of an injected 429."""
    drop_rate: float = 0.0
    """Connections closed before the request is handled (nothing happened)."""
    drop_after_rate: float = 0.0
    """Requests handled (a write is committed) whose response is then lost: the connection
    closes mid-answer. What a crash-safe client must not repeat as a second create."""
    seed: int | None = None

    def active(self) -> bool:
        """Whether any fault is switched on."""
        return bool(
            self.latency_ms
            or self.error_rate
            or self.throttle_rate
            or self.drop_rate
            or self.drop_after_rate
        )


class FaultMiddleware:
    """Applies the current :class:`FaultConfig` to HTTP requests under ``prefix``.

    ``error_code`` and ``throttle_code`` fill the ``{"error":{"code","message"}}`` body the
    service's clients expect (Dataverse and Business Central share that shape).
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: Callable[[], FaultConfig | None],
        *,
        prefix: str | tuple[str, ...],
        error_code: str,
        throttle_code: str,
    ) -> None:
        self.app = app
        self.faults = faults
        self.prefix = prefix
        self.error_code = error_code
        self.throttle_code = throttle_code
        self._random = random.Random()
        self._config: FaultConfig | None = None
        self._storm_left = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults()
        if faults is None:
            self._storm_left = 0
        if (
            scope["type"] != "http"
            or faults is None
            or not (faults.active() or self._storm_left)
            or not str(scope["path"]).startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        if faults is not self._config:  # a new configuration starts its draws afresh
            self._config = faults
            self._random.seed(faults.seed)
        draw = self._random.random
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self._storm_left or (faults.throttle_rate and draw() < faults.throttle_rate):
            self._storm_left = (self._storm_left or max(faults.throttle_burst, 1)) - 1
            message = "Number of requests exceeded the limit (injected fault)."
            await _send_error(send, 429, self.throttle_code, message, faults.retry_after)
            return
        if faults.error_rate and draw() < faults.error_rate:
            message = "An unexpected error occurred (injected fault)."
            await _send_error(send, faults.error_status, self.error_code, message)
            return
        if faults.drop_rate and draw() < faults.drop_rate:
            await _drop(send)
            return
        if faults.drop_after_rate and draw() < faults.drop_after_rate:
            await self.app(scope, receive, _swallow)
            await _drop(send)
            return
        await self.app(scope, receive, send)


async def _swallow(message: Message) -> None:
    """Discards the handled request's answer: it is the response that gets lost."""


async def _drop(send: Send) -> None:
    """Close the connection mid-response: headers promise a body that never comes.

    NOTE: an ASGI app cannot close a socket without answering; uvicorn closes the connection
    when the app fails after the response started, which the client sees as a connection
    lost while reading (httpx ``RemoteProtocolError``).
    """
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("connection dropped (injected fault)")


async def _send_error(
    send: Send, status: int, code: str, message: str, retry_after: int | None = None
) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json; odata.metadata=minimal"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
