"""Opt-in kill points for crash tests: the process kills itself at a chosen moment.

``ACCORD_TEST_KILL_AT="<phase>:<n>"`` makes the n-th call of ``reached("<phase>")`` in this
process (counted from 1) send SIGKILL to the process itself: no ``finally``, no ``atexit``,
no rollback but the database's own, as when a machine loses power or the OOM killer strikes.
The variable is read once at import; unset (always, outside tests), :func:`reached` costs
one global check. ``tests/reliability/test_kill.py`` uses it to stop runs in every phase.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "reached"]

ENV = "ACCORD_TEST_KILL_AT"


def _target(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    phase, _, count = spec.rpartition(":")
    if not phase or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV} must be '<phase>:<n>' with n >= 1, not {spec!r}")
    return phase, int(count)


_TARGET = _target(os.environ.get(ENV))
_seen = 0


def reached(phase: str) -> None:
    """Mark that a run reached ``phase``; a no-op unless ``ACCORD_TEST_KILL_AT`` names it."""
    if _TARGET is None:
        return
    global _seen
    if phase == _TARGET[0]:
        _seen += 1
        if _seen >= _TARGET[1]:
            os.kill(os.getpid(), signal.SIGKILL)
