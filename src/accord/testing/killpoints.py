"""Opt-in kill points for crash tests: the process signals itself at a chosen moment.

``ACCORD_TEST_KILL_AT="<phase>:<n>"`` makes the n-th call of ``reached("<phase>")`` in this
process (counted from 1) send a signal to the process itself: SIGKILL by default (no
``finally``, no ``atexit``, no rollback but the database's own, as when a machine loses power
or the OOM killer strikes), or the one ``ACCORD_TEST_KILL_SIGNAL`` names: ``INT`` (Ctrl-C at
that very moment) or ``STOP`` (the process pauses there until a SIGCONT, as a suspended VM or
a long GC pause would). The variables are read once at import; unset (always, outside
tests), :func:`reached` costs one global check. ``tests/reliability/test_kill.py`` uses it to
stop runs in every phase, ``test_interrupt.py`` and ``test_fencing.py`` to interrupt and
pause them.
"""

from __future__ import annotations

import os
import signal

__all__ = ["ENV", "SIGNAL_ENV", "reached"]

ENV = "ACCORD_TEST_KILL_AT"
SIGNAL_ENV = "ACCORD_TEST_KILL_SIGNAL"
_SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT, "STOP": signal.SIGSTOP}


def _target(spec: str | None) -> tuple[str, int] | None:
    if not spec:
        return None
    phase, _, count = spec.rpartition(":")
    if not phase or not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV} must be '<phase>:<n>' with n >= 1, not {spec!r}")
    return phase, int(count)


def _signal(name: str | None) -> signal.Signals:
    if not name:
        return signal.SIGKILL
    if name.upper() not in _SIGNALS:
        raise ValueError(f"{SIGNAL_ENV} must be one of {', '.join(_SIGNALS)}, not {name!r}")
    return _SIGNALS[name.upper()]


_TARGET = _target(os.environ.get(ENV))
_SIGNAL = _signal(os.environ.get(SIGNAL_ENV))
_seen = 0


def reached(phase: str) -> None:
    """Mark that a run reached ``phase``; a no-op unless ``ACCORD_TEST_KILL_AT`` names it.

    SIGKILL is sent at the n-th time and after (a process it does not kill is not one this
    mechanism is meant for); SIGINT and SIGSTOP once, at the n-th time.
    """
    if _TARGET is None:
        return
    global _seen
    if phase == _TARGET[0]:
        _seen += 1
        if _seen == _TARGET[1] or (_seen > _TARGET[1] and _SIGNAL is signal.SIGKILL):
            os.kill(os.getpid(), _SIGNAL)
