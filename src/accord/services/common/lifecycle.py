"""How a local service starts and stops: its data folder, TLS files, token issuer, server.

Shared by ``LocalDataverse`` and ``LocalBusinessCentral``; each builds its own store and ASGI
app between these steps and keeps its store (anything with ``close()``) as ``store``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from starlette.types import ASGIApp

from accord.services.common.auth import Credentials, TokenIssuer, saved_credentials
from accord.services.common.identity import ServiceIdentity
from accord.services.common.server import BackgroundServer
from accord.services.common.tls import make_tls_files


class _Closable(Protocol):
    def close(self) -> None: ...


class LocalService(ServiceIdentity):
    """A local service's life: folders and TLS before it serves, cleanup after."""

    store: _Closable
    _server: BackgroundServer
    _temp: Path | None = None

    @staticmethod
    def _open_folder(data_dir: Path | None) -> Path | None:
        """The data folder, created if missing (None: the service keeps its data in memory)."""
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
        return data_dir

    def _make_tls(self, data_dir: Path | None, *, tls: bool, prefix: str) -> None:
        """The TLS files, under ``data_dir/tls``; without a data folder in a temporary one,
        removed on stop. Over plain HTTP, none."""
        temporary = tls and not data_dir
        self._temp = Path(tempfile.mkdtemp(prefix=prefix)) if temporary else None
        tls_dir = (data_dir or self._temp or Path()) / "tls"
        self._tls_files = make_tls_files(tls_dir) if tls else None

    def _make_issuer(
        self,
        credentials: Credentials | None,
        data_dir: Path | None,
        *,
        resource: Callable[[], str],
        lifetime: int,
        extra_resources: tuple[str, ...] = (),
    ) -> None:
        """The token issuer: the credentials given, else those the data folder keeps (made
        and saved on the first start), else new ones."""
        dev_token = None
        if credentials is None and data_dir is not None:
            credentials, dev_token = saved_credentials(data_dir / "credentials.json")
        self.issuer = TokenIssuer(
            credentials or Credentials(),
            resource=resource,
            lifetime=lifetime,
            dev_token=dev_token,
            extra_resources=extra_resources,
        )

    def _make_server(self, app: ASGIApp, port: int) -> str:
        """The server (not started yet); returns its URL. A port in use releases the rest."""
        try:
            self._server = BackgroundServer(app, port=port, tls=self._tls_files)
        except OSError:
            self._release()
            raise
        return self._server.url

    def stop(self) -> None:
        self._server.stop()
        self._release()

    def _release(self) -> None:
        self.store.close()
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)

    def wait(self) -> None:
        """Block until the server stops (the CLI's foreground mode)."""
        self._server.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
