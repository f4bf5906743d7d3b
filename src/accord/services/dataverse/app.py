"""The ASGI app: token endpoints, then bearer check, service protection and faults, then the
Web API dispatcher.

Middleware order matters and follows what a client meets in the cloud: an unauthenticated
request is refused before it counts against a budget; a throttled request never reaches the
data; injected faults sit closest to the data so that a dropped answer can follow a commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from accord.services.common.auth import BearerMiddleware, TokenIssuer
from accord.services.common.faults import FaultConfig, FaultMiddleware
from accord.services.common.limiter import LimitCodes, RequestLimiter, ServiceProtectionMiddleware
from accord.services.common.stats import RequestStats, StatsMiddleware
from accord.services.dataverse import errors as codes
from accord.services.dataverse.api import API_PATH, ApiRequest, ApiResponse, DataverseApi
from accord.services.dataverse.errors import DataverseError

__all__ = ["MAX_URL", "build_app", "request_kind"]

MAX_URL = 32 * 1024
"""Dataverse's URL limit outside ``$batch`` (inside a batch a part's URL may be 64 KB)."""
logger = logging.getLogger(__name__)


def build_app(
    api: DataverseApi,
    issuer: TokenIssuer,
    *,
    base_url: Callable[[], str],
    faults: Callable[[], FaultConfig | None],
    limiter: Callable[[], RequestLimiter | None],
    stats: RequestStats,
) -> ASGIApp:
    """The whole service as one ASGI app; the callables are read on every request.

    ``stats`` counts the authenticated Web API requests, by method, status and
    :func:`request_kind` (benchmarks count a client's requests on the service's side).
    """

    async def web_api(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"").decode("latin-1")
        if len(raw_path) + len(query) > MAX_URL:
            error = DataverseError(
                414, codes.BAD_REQUEST, f"The request URL is longer than {MAX_URL:,} characters."
            )
            result = ApiResponse.error(error)
            return Response(result.body, status_code=414, headers=result.headers)
        path = unquote(raw_path.decode("latin-1").split("?", 1)[0])[len(API_PATH) :]
        params = dict(parse_qsl(query, keep_blank_values=True))
        inner = ApiRequest(
            method=request.method,
            path=path,
            params=params,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            base=f"{base_url()}{API_PATH}",
        )
        with api.records.store.lock:
            try:
                result = api.handle(inner)
            except Exception as exc:  # a defect: answer as Dataverse does, keep serving
                logger.exception("unexpected error in %s %s", request.method, path)
                error = DataverseError(
                    500, codes.UNEXPECTED, f"An unexpected error occurred: {exc}"
                )
                result = ApiResponse.error(error)
        return Response(result.body, status_code=result.status, headers=result.headers)

    routes = [
        *issuer.routes(),
        Route(
            API_PATH + "{rest:path}",
            web_api,
            methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
        ),
    ]
    app: ASGIApp = Starlette(routes=routes)
    app = FaultMiddleware(
        app,
        faults,
        prefix=API_PATH,
        error_code=codes.UNEXPECTED,
        throttle_code=codes.SERVICE_PROTECTION_REQUESTS,
    )
    app = ServiceProtectionMiddleware(
        app,
        limiter,
        prefix=API_PATH,
        codes=LimitCodes(
            requests=codes.SERVICE_PROTECTION_REQUESTS,
            concurrent=codes.SERVICE_PROTECTION_CONCURRENCY,
        ),
    )
    app = StatsMiddleware(app, stats, prefix=API_PATH, kind=request_kind)
    return BearerMiddleware(
        app, issuer, prefix=API_PATH, authority=lambda: f"{base_url()}/{issuer.credentials.tenant}"
    )


def request_kind(method: str, path: str) -> str:
    """``GET accounts``, ``POST accounts/CreateMultiple``, ``POST $batch``: the method, the
    entity set (or endpoint) and the action, without keys."""
    parts = [part.split("(", 1)[0] for part in path.split("/") if part]
    target = parts[0] if parts else ""
    action = next((p.rsplit(".", 1)[-1] for p in parts[1:] if "Microsoft.Dynamics" in p), "")
    return f"{method} {target}/{action}" if action else f"{method} {target}"
