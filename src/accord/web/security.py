"""Access token and CSRF protection for the browser UI.

Every request needs the access token ``accord serve`` prints: first as ``?token=`` in the
URL (answered with a cookie and a redirect to the same page without it), then as that
cookie (HttpOnly, SameSite=Strict). Every POST also needs the CSRF token, derived from the
access token, in the ``X-CSRF-Token`` header (htmx sends it from ``<body hx-headers>``) or a
``csrf`` form field, and an ``Origin``, when the browser sends one, of this very server.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "accord_token"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"


def csrf_token(token: str) -> str:
    """The CSRF token pages embed: an HMAC of the access token (never the token itself)."""
    return hmac.new(token.encode(), b"accord-csrf", hashlib.sha256).hexdigest()


class TokenGuard:
    """ASGI middleware: refuse (401) what lacks the token, (403) a POST without CSRF."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token
        self.csrf = csrf_token(token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        given = request.query_params.get("token")
        if given is not None:
            response: Response
            if not hmac.compare_digest(given, self.token):
                response = PlainTextResponse(
                    "The access token in the URL is wrong: open the URL accord serve printed.",
                    status_code=401,
                )
            else:
                query = urlencode(
                    [(k, v) for k, v in parse_qsl(scope["query_string"].decode()) if k != "token"]
                )
                response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303)
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            await response(scope, receive, send)
            return
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), self.token):
            await PlainTextResponse(
                "This page needs the access token: open the URL accord serve printed "
                "(it ends in ?token=...).",
                status_code=401,
            )(scope, receive, send)
            return
        if request.method not in ("GET", "HEAD"):
            refusal = await self._refuse_post(request)
            if refusal is not None:
                await PlainTextResponse(refusal, status_code=403)(scope, receive, send)
                return
            # the body was read to check the form field: hand it on
            body = await request.body()

            async def replay() -> dict[str, object]:
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)

    async def _refuse_post(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = urlsplit(origin).netloc
            if host != request.headers.get("host"):
                return f"refused: a form from another site ({origin}) cannot act here"
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            sent = form.get(CSRF_FIELD)
        if not sent or not hmac.compare_digest(sent, self.csrf):
            return "refused: the form's CSRF token is missing or wrong (reload the page)"
        return None


async def form_of(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body, each field with all its values."""
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out
