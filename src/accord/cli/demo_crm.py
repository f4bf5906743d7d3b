"""``accord demo --crm dataverse``: the local service the demo starts, and how to reach it later.

The service runs in this process (a background thread) for the demo's full synchronization.
The written ``accord.toml`` takes the client secret from an environment variable, so the demo
sets that variable for its own run only; the next steps it prints say how to set it for a
later ``accord sync`` without showing it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from rich.markup import escape

from accord.cli.common import console
from accord.demo.config import SECRET_VARIABLE
from accord.demo.world import DATAVERSE_DIR, DemoWorld

__all__ = ["DemoServer", "dataverse_next_steps", "secret_for"]


class DemoServer:
    """Builds the demo and owns the service it may start: stopped on exit, whatever happened."""

    def __init__(self) -> None:
        self.world: DemoWorld | None = None

    def build(self, directory: Path, **options: Any) -> DemoWorld:
        from accord.demo import build_demo

        self.world = build_demo(directory, **options)
        return self.world

    def serve_until_stopped(self, *, quiet: bool) -> None:
        """Keep the service up until Ctrl-C or SIGTERM (``--keep-serving``)."""
        service = self.world.service if self.world else None
        if service is None:
            return
        # The handler only sets an event: an exception raised inside Thread.join (as
        # service.wait() would take it) can leave the thread looking stopped on Python 3.11,
        # and stop() would then close the socket under uvicorn's feet.
        stopping = threading.Event()

        def interrupt(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not quiet:
                console.print(
                    f"\nThe local Dataverse keeps serving at {escape(service.url)}; "
                    "press Ctrl-C to stop it.",
                    highlight=False,
                )
            console.file.flush()  # a script reading the output from a pipe must not wait
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if not quiet:
            console.print("stopped", highlight=False)

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.world is not None and self.world.service is not None:
            self.world.service.stop()


@contextmanager
def secret_for(world: DemoWorld) -> Iterator[None]:
    """Set the client secret variable ``accord.toml`` refers to, for the demo's own run."""
    if world.service is None:
        yield
        return
    before = os.environ.get(SECRET_VARIABLE)
    os.environ[SECRET_VARIABLE] = world.service.client_secret
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(SECRET_VARIABLE, None)
        else:
            os.environ[SECRET_VARIABLE] = before


SECRET_COMMAND = (
    f"export {SECRET_VARIABLE}=\"$(python -c 'import json; print(json.load(open("
    f'"{DATAVERSE_DIR}/credentials.json"))["client_secret"])\')"'
)
"""A shell line that sets the secret from the service's data folder without showing it."""


def dataverse_next_steps(world: DemoWorld, keep_serving: bool) -> str:
    """The 'Try next' lines that bring the local Dataverse back for a later ``accord sync``."""
    service = world.service
    assert service is not None
    port = service.url.rsplit(":", 1)[-1]
    serve = (
        "  # the service keeps serving until Ctrl-C; in another terminal, in this folder:\n"
        if keep_serving
        else f"  accord dev dataverse --data {DATAVERSE_DIR} --port {port} &"
        "   # serve the CRM again\n"
    )
    return escape(serve + f"  {SECRET_COMMAND}\n")
