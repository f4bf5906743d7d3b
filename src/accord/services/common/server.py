"""Run an ASGI app on uvicorn in a background thread, on a port known before it serves.

The socket is bound here (port 0 = the system picks a free one) and handed to uvicorn, so
the caller learns the port without parsing logs, and a port already taken fails at once
with a clear ``OSError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from accord.services.common.faults import hide_injected_drops
from accord.services.common.tls import TlsFiles

__all__ = ["BackgroundServer"]

START_TIMEOUT = 20.0
"""Seconds to wait for uvicorn to start serving before giving up."""
MAX_HEAD = 256 * 1024
"""Largest request line plus headers uvicorn reads; services enforce their own URL limits."""
GRACE = 0.5
"""Seconds requests in flight get to finish when the server stops."""


class BackgroundServer:
    """One uvicorn server on ``host:port`` in a daemon thread; ``stop()`` shuts it down.

    Usable as a context manager. ``url`` is ``https://host:port`` with TLS files, else
    ``http://``.
    """

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, tls: TlsFiles | None = None
    ) -> None:
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and accepted sockets inherit it. Without it an answer written in two parts (headers,
        # then body) waits ~40 ms for the client's delayed ACK (Nagle).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            # NOTE: h11's default (16 KB) would refuse a long URL before the app can answer
            # with the service's own limit and error.
            h11_max_incomplete_event_size=MAX_HEAD,
            ssl_certfile=str(tls.cert_file) if tls else None,
            ssl_keyfile=str(tls.key_file) if tls else None,
        )
        hide_injected_drops()  # after uvicorn.Config, which (re)configures its loggers
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn-{self.port}")

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._socket])

        asyncio.run(serve())

    def _abort_connections(self) -> None:
        """Runs on the server's loop: cut connections whose clients never close them."""
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def start(self) -> BackgroundServer:
        """Start serving; return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.url} stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start in {START_TIMEOUT} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for the thread, release the socket."""
        self._server.should_exit = True
        self._thread.join(timeout=GRACE)
        if self._thread.is_alive():
            # NOTE: idle keep-alive connections of clients still open would hold the shutdown
            # for uvicorn's graceful timeout; a test service need not wait for them.
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    self._loop.call_soon_threadsafe(self._abort_connections)
            self._thread.join(timeout=GRACE)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout=START_TIMEOUT)
        self._socket.close()

    def wait(self) -> None:
        """Block until the server thread ends (the foreground CLI waits here)."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
