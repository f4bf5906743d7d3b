"""JSON ``$batch``: up to 100 requests in one, each with its own answer.

``{"requests": [{id, method, url, headers, body}]}`` is answered with
``{"responses": [{id, status, headers, body}]}``. No ``Isolation: snapshot``: that would make
the batch one transaction, and a failing record must fail alone. Each request's URL is
relative to the API base the batch is posted to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.connectors.dataverse.http import ServiceError
from accord.connectors.dataverse.values import dumps, loads

MAX_REQUESTS = 100
"""Business Central's limit of operations in one batch."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a batch (``url`` relative to the API base)."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """One request's answer (``body`` parsed: a JSON object, or None)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    def error(self) -> ServiceError:
        """Business Central's ``{"error": {"code", "message"}}`` of a failed request."""
        return error_of(self.status, self.body)


def encode(requests: Sequence[Request]) -> bytes:
    """The JSON body of a batch; request ids are their positions (1-based)."""
    items = []
    for number, request in enumerate(requests, 1):
        headers = dict(request.headers)
        item: dict[str, Any] = {"id": str(number), "method": request.method, "url": request.url}
        if request.body is not None:
            headers.setdefault("Content-Type", "application/json")
            item["body"] = request.body
        if headers:
            item["headers"] = headers
        items.append(item)
    return dumps({"requests": items})


def decode(content: bytes, count: int) -> list[Answer]:
    """The answers of a batch response in request order.

    Raises:
        ValueError: not a batch answer, or not one answer per request.
    """
    document = loads(content)
    responses = document.get("responses") if isinstance(document, dict) else None
    if not isinstance(responses, list):
        raise ValueError("no 'responses' in the batch answer")
    by_id: dict[str, Answer] = {}
    for response in responses:
        if not isinstance(response, dict):
            raise ValueError("a batch response that is not an object")
        headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
        body = response.get("body")
        if isinstance(body, str) and body.strip().startswith(("{", "[")):
            body = loads(body)  # some services send the body as JSON text
        status = response.get("status")
        by_id[str(response.get("id"))] = Answer(
            int(status) if isinstance(status, int) else 500, headers, body
        )
    answers = [by_id.get(str(n)) for n in range(1, count + 1)]
    if any(a is None for a in answers):
        raise ValueError(f"{len(by_id)} answers to a batch of {count} requests")
    return [a for a in answers if a is not None]


def error_of(status: int, body: Any) -> ServiceError:
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code") or "") if isinstance(error, dict) else ""
    message = str(error.get("message") or "") if isinstance(error, dict) else ""
    return ServiceError(status, code, " ".join(message.split())[:500] or f"HTTP {status}")
