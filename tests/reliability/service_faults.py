"""What the HTTP fault fuzzers share: the service faults drawn, and proof that answers were lost.

The local Dataverse and Business Central services apply the same
:class:`~accord.services.common.faults.FaultConfig`, so their fuzzers draw from one strategy.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import strategies as st
from starlette.types import Message

from accord.services.common import faults as fault_injection
from accord.services.common.faults import FaultConfig
from accord.services.common.stats import RequestStats

__all__ = ["FAULTS", "LOST_ANSWER", "fault_events", "record_lost_answers"]

FAULTS = st.builds(
    FaultConfig,
    throttle_rate=st.sampled_from([0.0, 0.1, 0.3]),
    throttle_burst=st.integers(1, 4),
    retry_after=st.just(0),  # a storm's Retry-After: 0 s keeps the examples quick
    error_rate=st.sampled_from([0.0, 0.05, 0.1]),
    error_status=st.sampled_from([500, 502, 503, 504]),
    drop_rate=st.sampled_from([0.0, 0.05, 0.1]),
    drop_after_rate=st.sampled_from([0.0, 0.05, 0.1]),
    seed=st.integers(0, 2**16),
).filter(FaultConfig.active)
"""429 storms (Retry-After 0), 5xx answers, drops before handling, answers lost after it."""

LOST_ANSWER = "peer closed connection"
"""What the connector logs when an answer was lost mid-response (httpx's words)."""


def fault_events(stats: RequestStats, event: Callable[[str], None]) -> None:
    """Tell hypothesis which kinds of answer the service gave (its statistics)."""
    answered = stats.by_status
    event(f"throttled: {bool(answered[429])}")
    event(f"5xx: {any(answered[s] for s in (500, 502, 503, 504))}")


def record_lost_answers(monkeypatch: pytest.MonkeyPatch, marker: bytes) -> list[bytes]:
    """Keep the bodies of the answers the service loses after handling a request (drop
    after) that contain ``marker`` (spaces ignored): proof that a test met the case it is
    about, such as a committed create whose answer never arrived."""
    lost: list[bytes] = []

    async def swallow(message: Message) -> None:
        body = message.get("body", b"")
        if message["type"] == "http.response.body" and marker in bytes(body).replace(b" ", b""):
            lost.append(bytes(body))

    monkeypatch.setattr(fault_injection, "_swallow", swallow)
    return lost
