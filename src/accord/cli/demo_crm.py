"""``accord demo --crm dataverse`` / ``--erp businesscentral``: the local services the demo
starts, and how to reach them later.

The services run in this process (a background thread) for the demo's full synchronization.
The written ``accord.toml`` takes each client secret from an environment variable, so the
demo sets those variables for its own run only; the next steps it prints say how to set it for a
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
from accord.demo.config import BC_SECRET_VARIABLE, SECRET_VARIABLE
from accord.demo.world import BC_DIR, DATAVERSE_DIR, DemoWorld

__all__ = ["DemoServer", "secret_for", "served_next_steps"]


class DemoServer:
    """Builds the demo and owns the service it may start: stopped on exit, whatever happened."""

    def __init__(self) -> None:
        self.world: DemoWorld | None = None

    def build(self, directory: Path, **options: Any) -> DemoWorld:
        from accord.demo import build_demo

        self.world = build_demo(directory, **options)
        return self.world

    def serve_until_stopped(self, *, quiet: bool) -> None:
        """Keep the services up until Ctrl-C or SIGTERM (``--keep-serving``)."""
        world = self.world
        if world is None or (world.service is None and world.erp_service is None):
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
                    _serving_line(world),
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
        if self.world is not None:
            self.world.stop()


def _serving_line(world: DemoWorld) -> str:
    services = []
    if world.erp_service is not None:
        services.append(("Business Central", world.erp_service.url))
    if world.service is not None:
        services.append(("Dataverse", world.service.url))
    if len(services) == 1:
        name, url = services[0]
        return f"\nThe local {name} keeps serving at {escape(url)}; press Ctrl-C to stop it."
    both = " and ".join(f"{name} at {escape(url)}" for name, url in services)
    return f"\nThe local {both} keep serving; press Ctrl-C to stop them."


@contextmanager
def secret_for(world: DemoWorld) -> Iterator[None]:
    """Set the client secret variables ``accord.toml`` refers to, for the demo's own run."""
    secrets = {}
    if world.service is not None:
        secrets[SECRET_VARIABLE] = world.service.client_secret
    if world.erp_service is not None:
        secrets[BC_SECRET_VARIABLE] = world.erp_service.client_secret
    before = {name: os.environ.get(name) for name in secrets}
    os.environ.update(secrets)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _secret_command(variable: str, data_dir: str) -> str:
    """A shell line that sets a secret from a service's data folder without showing it."""
    return (
        f"export {variable}=\"$(python -c 'import json; print(json.load(open("
        f'"{data_dir}/credentials.json"))["client_secret"])\')"'
    )


def served_next_steps(world: DemoWorld, keep_serving: bool) -> str:
    """The 'Try next' lines that bring the local services back for a later ``accord sync``."""
    lines = []
    if keep_serving:
        lines.append(
            "  # the services keep serving until Ctrl-C; in another terminal, in this folder:"
        )
    if world.erp_service is not None:
        port = world.erp_service.root.rsplit(":", 1)[-1]
        if not keep_serving:
            lines.append(
                f"  accord dev businesscentral --data {BC_DIR} --port {port} &   # serve the ERP"
            )
        lines.append("  " + _secret_command(BC_SECRET_VARIABLE, BC_DIR))
    if world.service is not None:
        port = world.service.url.rsplit(":", 1)[-1]
        if not keep_serving:
            lines.append(
                f"  accord dev dataverse --data {DATAVERSE_DIR} --port {port} &   # serve the CRM"
            )
        lines.append("  " + _secret_command(SECRET_VARIABLE, DATAVERSE_DIR))
    return escape("".join(line + "\n" for line in lines))
