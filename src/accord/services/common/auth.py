"""Entra-ID-like OAuth2 client credentials, and the bearer-token check of the API.

``msal.ConfidentialClientApplication(client_id, client_credential=secret,
authority=f"{url}/{tenant}", instance_discovery=False, verify=ca_file)`` works unchanged:
msal fetches ``/{tenant}/v2.0/.well-known/openid-configuration``, then posts the client
credentials grant to the ``token_endpoint`` it names. Errors use Entra's shape and AADSTS
codes, so a client's handling of a wrong secret or tenant is exercised too. msal insists on
``https``: with plain HTTP only the fixed development token works.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerMiddleware", "Credentials", "TokenIssuer", "saved_credentials"]

TOKEN_LIFETIME = 3599
"""Seconds an issued token is accepted, as Entra's default of about an hour."""


@dataclass(frozen=True)
class Credentials:
    """The app registration a client authenticates as (random unless given)."""

    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class TokenIssuer:
    """Issues opaque bearer tokens for one app registration and checks them.

    ``dev_token`` never expires: it is what the CLI prints for curl and what tests use when
    they are not about authentication. Tokens from the token endpoint expire after
    ``lifetime`` seconds, so that a client's refresh is tested too.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        resource: Callable[[], str],
        lifetime: int = TOKEN_LIFETIME,
        dev_token: str | None = None,
        extra_resources: tuple[str, ...] = (),
    ) -> None:
        self.credentials = credentials
        self.lifetime = lifetime
        self.dev_token = dev_token or secrets.token_urlsafe(32)
        self.resource = resource
        """The service URL (the token audience), a callable: known once its port is bound."""
        self.extra_resources = extra_resources
        """Other resources a client may ask a token for (Business Central's public one, so a
        client configured for the cloud asks for the scope it always does)."""
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self.issued = 0
        """Tokens issued by the endpoint so far (tests check a client caches its token)."""

    def accepts(self, token: str) -> bool:
        """Whether ``token`` is the dev token or an issued one that has not expired."""
        if secrets.compare_digest(token, self.dev_token):
            return True
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and expiry > time.time()

    def issue(self, lifetime: int | None = None) -> str:
        """A new token valid for ``lifetime`` seconds (default: the issuer's)."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._expiry[token] = time.time() + (self.lifetime if lifetime is None else lifetime)
            self.issued += 1
        return token

    def routes(self) -> list[Route]:
        """The discovery document and token endpoint, under ``/{tenant}/``."""
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self._discovery),
            Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
        ]

    async def _discovery(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant != self.credentials.tenant:
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{request.url.scheme}://{request.url.netloc}/{tenant}"
        return JSONResponse(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
                "grant_types_supported": ["client_credentials"],
                "tenant_region_scope": "EU",
            }
        )

    async def _token(self, request: Request) -> Response:
        creds = self.credentials
        tenant = request.path_params["tenant"]
        if tenant != creds.tenant:
            return _aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        # NOTE: parsed by hand: Starlette's form parser needs python-multipart, for one form.
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = str(form.get("grant_type", ""))
        if grant != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic, as Entra also accepts
            try:
                pair = base64.b64decode(basic[6:]).decode()
            except (ValueError, UnicodeDecodeError):
                pair = ""
            user, _, password = pair.partition(":")
            form.setdefault("client_id", unquote(user))
            form.setdefault("client_secret", unquote(password))
        client_id = str(form.get("client_id", ""))
        if client_id != creds.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'.",
            )
        secret = str(form.get("client_secret", ""))
        if not secrets.compare_digest(secret, creds.client_secret):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                f"is the client secret value, not the client secret ID, for a secret added to "
                f"app '{client_id}'.",
            )
        scope = str(form.get("scope", ""))
        resource = self.resource().rstrip("/")
        resources = (resource, *self.extra_resources)
        wanted = {f"{r}{suffix}" for r in resources for suffix in ("/.default", "//.default")}
        if not set(scope.split()) & wanted:
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                f"must have a scope value with /.default suffixed to the resource identifier "
                f"({resource}/.default).",
            )
        token = self.issue()
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "ext_expires_in": self.lifetime,
                "access_token": token,
            }
        )


def saved_credentials(path: Path) -> tuple[Credentials, str]:
    """The app credentials and dev token of a data folder, made on its first start.

    Kept so that a configuration written against one start works against the next.
    """
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        return (
            Credentials(saved["tenant"], saved["client_id"], saved["client_secret"]),
            str(saved["token"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        credentials, token = Credentials(), secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "tenant": credentials.tenant,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "token": token,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    path.chmod(0o600)
    return credentials, token


def _aad_error(status: int, error: str, code: int, description: str) -> Response:
    """Entra ID's error body: ``error``, ``error_description`` starting with AADSTSnnn."""
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
        status_code=status,
    )


class BearerMiddleware:
    """Answers 401 to a request under ``prefix`` without an accepted bearer token.

    Like Dataverse, the 401 has no body and a ``WWW-Authenticate`` header naming where to
    get a token (``authorization_uri``) and for which resource.
    """

    def __init__(
        self,
        app: ASGIApp,
        issuer: TokenIssuer,
        *,
        prefix: str | tuple[str, ...],
        authority: Callable[[], str],
    ) -> None:
        self.app = app
        self.issuer = issuer
        self.prefix = prefix
        self.authority = authority

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
        kind, _, token = header.partition(" ")
        if kind.lower() == "bearer" and token and self.issuer.accepts(token.strip()):
            await self.app(scope, receive, send)
            return
        challenge = (
            f"Bearer authorization_uri={self.authority()}/oauth2/authorize, "
            f"resource_id={self.issuer.resource()}/"
        )
        if header:
            challenge += ', error="invalid_token"'
        response = Response(status_code=401, headers={"WWW-Authenticate": challenge})
        await response(scope, receive, send)
