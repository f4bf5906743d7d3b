"""Bearer tokens for the Web API: Entra ID client credentials through msal, or a fixed token.

msal keeps the token in its cache and hands out the cached one until it nears expiry; this
module adds a memo in front (so a request costs no cache lookup) that is dropped a few minutes
before the token expires, and after a 401, so that the next request gets a fresh token.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Protocol

from accord.errors import FatalConnectorError, RetriableConnectorError
from accord.secrets import remember

REFRESH_MARGIN = 300.0
"""Seconds before expiry at which a token is no longer used (a request may take a while)."""


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self) -> None:
        """The service refused the token: get another one next time."""
        ...

    def close(self) -> None: ...


class StaticToken:
    """A token given in the configuration (the local service prints one)."""

    def __init__(self, value: str) -> None:
        remember(value)
        self._value = value

    def token(self) -> str:
        return self._value

    def invalidate(self) -> None:
        return None

    def close(self) -> None:
        return None


class ClientCredentials:
    """Server-to-server tokens for scope ``<url>/.default`` (an application user)."""

    def __init__(
        self,
        system: str,
        *,
        url: str,
        tenant: str,
        client_id: str,
        client_secret: str,
        authority: str | None,
        ca_bundle: str | None,
        timeout: float,
    ) -> None:
        remember(client_secret)
        self.system = system
        self.scope = url.rstrip("/") + "/.default"
        self.client_id = client_id
        self.authority = (authority or f"https://login.microsoftonline.com/{tenant}").rstrip("/")
        self._secret = client_secret
        self._verify: Any = ca_bundle or True
        self._timeout = timeout
        self._app: Any = None
        self._sessions: list[Any] = []
        self._memo: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            memo = self._memo
            if memo is not None and time.monotonic() < memo[1]:
                return memo[0]
            value, lifetime = self._acquire()
            self._memo = (value, time.monotonic() + max(0.0, lifetime - REFRESH_MARGIN))
            return value

    def invalidate(self) -> None:
        with self._lock:
            self._memo = None
            self._app = None  # and msal's cache with it: the cached token was refused

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _session(self) -> Any:
        """A requests session that verifies TLS with ``ca_bundle`` whatever the environment
        says (a session-wide ``verify`` loses to ``REQUESTS_CA_BUNDLE`` in requests)."""
        import requests

        session = requests.Session()
        self._sessions.append(session)
        session.request = functools.partial(  # type: ignore[method-assign]
            session.request, verify=self._verify, timeout=self._timeout
        )
        return session

    def _acquire(self) -> tuple[str, float]:
        import msal
        import requests

        where = f"system '{self.system}': signing in to {self.authority}"
        try:
            if self._app is None:
                public_cloud = self.authority.startswith("https://login.microsoftonline.com/")
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self._secret,
                    authority=self.authority,
                    validate_authority=public_cloud,
                    instance_discovery=public_cloud,
                    token_cache=msal.TokenCache(),
                    http_client=self._session(),
                )
            result = self._app.acquire_token_for_client(scopes=[self.scope])
        except requests.exceptions.SSLError as exc:
            raise FatalConnectorError(
                f"{where}: its TLS certificate is not trusted ({_first_line(exc)}); "
                "set options.ca_bundle to the CA file that signed it"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise RetriableConnectorError(
                f"{where}: cannot reach it ({_first_line(exc)})"
            ) from None
        except ValueError as exc:  # OIDC discovery refused: no such tenant or authority
            raise FatalConnectorError(
                f"{where}: the authority is not usable (check tenant and authority): "
                f"{_first_line(exc)}"
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            error = (result or {}).get("error", "no token")
            detail = _first_line((result or {}).get("error_description", ""))
            raise FatalConnectorError(
                f"{where}: the credentials of client '{self.client_id}' were refused "
                f"({error}{': ' + detail if detail else ''}); check tenant, client_id and "
                "client_secret"
            )
        token = str(result["access_token"])
        remember(token)
        return token, float(result.get("expires_in") or 3600)


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""
