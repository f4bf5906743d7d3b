"""What a client needs to reach a local service: its token, CA file and app credentials.

Shared by every local service (``LocalDataverse``, ``LocalBusinessCentral``): each keeps its
:class:`~accord.services.common.auth.TokenIssuer` as ``issuer`` and its TLS files (None over
plain HTTP) as ``_tls_files``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from accord.services.common.auth import TokenIssuer
from accord.services.common.tls import TlsFiles


class ServiceIdentity:
    """The token, TLS trust and client credentials of a running local service."""

    issuer: TokenIssuer
    _tls_files: TlsFiles | None

    @property
    def token(self) -> str:
        """A bearer token the service accepts for as long as it runs."""
        return self.issuer.dev_token

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) to verify TLS with; None over plain HTTP."""
        return self._tls_files.ca_file if self._tls_files else None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this service's CA (for ``httpx``'s ``verify=``)."""
        if self.ca_file is None:
            raise ValueError("the service runs over plain HTTP (no TLS)")
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def tenant(self) -> str:
        return self.issuer.credentials.tenant

    @property
    def client_id(self) -> str:
        return self.issuer.credentials.client_id

    @property
    def client_secret(self) -> str:
        return self.issuer.credentials.client_secret
