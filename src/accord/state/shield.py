"""Ctrl-C during a state store transaction waits for the transaction to end.

A ``KeyboardInterrupt`` raised in the middle of a transaction (inside the driver, or while
SQLAlchemy returns the connection to its pool) can leave that connection checked out with its
transaction open. On SQLite it then keeps the database's write lock, and the very next
statement of the interrupted run (releasing its leases, marking its jobs interrupted) waits
the whole busy timeout for a lock its own process holds. So a transaction defers SIGINT: the
signal is noted, the transaction commits or rolls back as it would have, and
``KeyboardInterrupt`` is raised right after it. A transaction lasts milliseconds (one batch's
state), so Ctrl-C still stops a run at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["deferred_interrupts"]


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT back until the block ends, then raise ``KeyboardInterrupt``.

    Only where Python's own handler is installed, in the main thread (the only one signals
    reach): an application with its own SIGINT handler keeps it untouched.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if received:
            raise KeyboardInterrupt
