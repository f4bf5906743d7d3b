"""The ASGI app: token endpoints, then bearer check, request limits and faults, then the API.

Middleware order follows what a client meets in the cloud: an unauthenticated request is
refused before it counts against a budget; a throttled request never reaches the data;
injected faults sit closest to the data so that a lost answer can follow a commit.
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

from accord.services.businesscentral import errors as codes
from accord.services.businesscentral.api import ApiRequest, ApiResponse, BusinessCentralApi
from accord.services.businesscentral.errors import BcError
from accord.services.common.auth import BearerMiddleware, TokenIssuer
from accord.services.common.faults import FaultConfig, FaultMiddleware
from accord.services.common.limiter import LimitCodes, RequestLimiter, ServiceProtectionMiddleware

__all__ = ["PREFIX", "build_app"]

PREFIX = "/v2.0/"
logger = logging.getLogger(__name__)


def build_app(
    api: BusinessCentralApi,
    issuer: TokenIssuer,
    *,
    origin: Callable[[], str],
    faults: Callable[[], FaultConfig | None],
    limiter: Callable[[], RequestLimiter | None],
) -> ASGIApp:
    prefixes = (PREFIX, f"/{api.instance}/")
    """The whole service as one ASGI app; the callables are read on every request."""

    async def endpoint(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path = unquote(raw_path.decode("latin-1").split("?", 1)[0])
        query = request.scope.get("query_string", b"").decode("latin-1")
        inner = ApiRequest(
            method=request.method,
            path=path,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            origin=origin(),
        )
        with api.store.lock:
            try:
                result = api.handle(inner)
            except Exception as exc:  # a defect: answer as BC does, keep serving
                logger.exception("unexpected error in %s %s", request.method, path)
                error = BcError(500, codes.UNEXPECTED, f"An unexpected error occurred: {exc}")
                result = ApiResponse.error(error)
        return Response(result.content(), status_code=result.status, headers=result.headers)

    routes = [
        *issuer.routes(),
        *(
            Route(p + "{rest:path}", endpoint, methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
            for p in prefixes
        ),
    ]
    app: ASGIApp = Starlette(routes=routes)
    app = FaultMiddleware(
        app,
        faults,
        prefix=prefixes,
        error_code=codes.UNEXPECTED,
        throttle_code=codes.TOO_MANY_REQUESTS,
    )
    app = ServiceProtectionMiddleware(
        app,
        limiter,
        prefix=prefixes,
        codes=LimitCodes(requests=codes.TOO_MANY_REQUESTS, concurrent=codes.TOO_MANY_REQUESTS),
        remaining_header=None,
    )
    return BearerMiddleware(
        app, issuer, prefix=prefixes, authority=lambda: f"{origin()}/{issuer.credentials.tenant}"
    )
