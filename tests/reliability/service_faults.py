"""What the HTTP fault fuzzers share: the service faults drawn, and proof that answers were lost.

The local Dataverse and Business Central services apply the same
:class:`~accord.services.common.faults.FaultConfig`, so their fuzzers draw from one strategy.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from accord.services.common.faults import FaultConfig
from accord.services.common.stats import RequestStats

__all__ = ["FAULTS", "LOST_ANSWER", "fault_events"]

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
