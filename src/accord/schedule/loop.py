"""``accord run``'s loop: APScheduler wakes the runner when the next mapping is due.

One APScheduler job whose trigger asks the runner for the earliest stored next run, so the
idle backoff and runs made by other processes move the wake-up time. The job runs in the main
thread (APScheduler's ``DebugExecutor``), where a signal can reach it: the first SIGINT or
SIGTERM lets the batch in hand finish and then stops; a second one interrupts the batch (its
jobs are marked interrupted, as ``accord sync`` does on Ctrl-C).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from threading import TIMEOUT_MAX
from types import FrameType
from typing import Any

from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger

from accord.schedule.runner import Runner

POLL = timedelta(seconds=60)
"""The longest the loop sleeps without reading the stored schedule again."""
AFTER = timedelta(milliseconds=10)


class _NextDue(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 has no type hints
    """Fires when the runner's earliest mapping is due (at most :data:`POLL` from now)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime:
        wake = self.runner.next_wake()
        at = now + POLL if wake is None else min(wake.replace(tzinfo=UTC), now + POLL)
        if previous is not None:
            # never at or before now once fired: APScheduler gathers fire times up to now
            at = max(at, now + AFTER)
        return at


class _StoppableScheduler(BlockingScheduler):  # type: ignore[misc]
    """A blocking scheduler that stops between rounds of job processing when asked.

    ``shutdown()`` called from inside a job (or from a signal handler that interrupted one
    round) would empty the job store under the round in progress; a stop request is
    honoured once the round is over instead.
    """

    stop_requested = False

    def request_stop(self) -> None:
        self.stop_requested = True
        self.wakeup()

    def _main_loop(self) -> None:
        wait_seconds: float | None = TIMEOUT_MAX
        while self.state != STATE_STOPPED and not self.stop_requested:
            self._event.wait(wait_seconds)
            self._event.clear()
            if self.stop_requested:
                break
            wait_seconds = self._process_jobs()
        if self.state != STATE_STOPPED:
            self.shutdown(wait=False)


class Loop:
    """Runs ticks until stopped; :attr:`outcome` says how it ended."""

    def __init__(self, runner: Runner, on_tick: Callable[[], None] = lambda: None) -> None:
        self.runner = runner
        self.on_tick = on_tick
        self.scheduler = _StoppableScheduler(
            timezone=UTC, executors={"default": DebugExecutor()}, logger=_quiet()
        )
        self.stopping: str | None = None  # the signal that asked to stop
        self.in_batch = False
        self.interrupted = False
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Block until a signal (or a defect) stops the loop; re-raises a defect."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in previous:
            signal.signal(s, self._signal)
        try:
            self.scheduler.add_job(
                self._tick,
                _NextDue(self.runner),
                id="accord-run",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
            self.scheduler.start()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.failure is not None:
            raise self.failure

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = self.stopping or signal.Signals(signum).name
        if not self.in_batch:
            self._stop()
            return
        # The batch goes on; the next signal interrupts it, as Ctrl-C interrupts accord sync:
        # through Python's own SIGINT handling, which a state store transaction defers to
        # its end (see accord.state.shield), so the interrupted run still marks its jobs.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _as_sigint)

    def _stop(self) -> None:
        self.scheduler.request_stop()

    def _tick(self) -> None:
        if self.stopping is not None:
            self._stop()
            return
        self.in_batch = True
        try:
            self.runner.tick()
        except KeyboardInterrupt:
            self.interrupted = True
            self.stopping = self.stopping or "SIGINT"
        except BaseException as exc:
            self.failure = exc
            self.stopping = self.stopping or "error"
        finally:
            self.in_batch = False
        self.on_tick()
        if self.stopping is not None:
            self._stop()


def _as_sigint(_signum: int, _frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


def _quiet() -> logging.Logger:
    """APScheduler logs every job it runs at INFO; Accord reports its runs itself."""
    logger = logging.getLogger("accord.apscheduler")
    logger.setLevel(logging.ERROR)
    return logger


__all__: list[Any] = ["Loop"]
