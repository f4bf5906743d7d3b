"""OData ``$batch``: many requests in one, each with its own answer.

Conditional updates and deletes are one request per record; ``$batch`` carries up to 1,000 of
them in one HTTP request (counted once by service protection), with
``Prefer: odata.continue-on-error`` so that one record's 412 or 404 does not stop the others.
No change sets: each part stands alone, as each record's outcome does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.connectors.dataverse.http import DataverseHttp, ServiceError
from accord.connectors.dataverse.values import dumps, loads

MAX_PARTS = 1000
"""Dataverse's limit of requests in one batch."""


@dataclass(frozen=True, slots=True)
class Part:
    """One request of a batch (``path`` relative to the API root)."""

    method: str
    path: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    """One part's answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def encode(parts: Sequence[Part], api: str) -> tuple[str, bytes]:
    """The ``Content-Type`` and body of a batch request."""
    boundary = f"batch_{uuid.uuid4()}"
    chunks: list[bytes] = []
    for number, part in enumerate(parts, 1):
        lines = [
            f"--{boundary}",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: {number}",
            "",
            f"{part.method} {api}{part.path} HTTP/1.1",
            "Accept: application/json",
        ]
        lines += [f"{name}: {value}" for name, value in part.headers.items()]
        body = b""
        if part.body is not None:
            lines.append("Content-Type: application/json; charset=utf-8")
            body = dumps(part.body)
        chunks.append(("\r\n".join(lines) + "\r\n\r\n").encode() + body + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def decode(content_type: str, content: bytes) -> list[Answer]:
    """The answers of a batch response, in order (change-set responses flattened)."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        raise ValueError(f"a batch answer without a boundary ({content_type!r})")
    answers: list[Answer] = []
    for chunk in _parts(content, found.group(1)):
        head, _, rest = chunk.partition(b"\r\n\r\n")
        headers = _headers(head)
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/mixed"):
            answers.extend(decode(inner_type, rest))
            continue
        status_head, _, body = rest.partition(b"\r\n\r\n")
        status_line, _, header_text = status_head.partition(b"\r\n")
        bits = status_line.decode("latin-1").split(" ", 2)
        status = int(bits[1]) if len(bits) > 1 and bits[1].isdigit() else 500
        answers.append(Answer(status, _headers(header_text), body.rstrip(b"\r\n")))
    return answers


def _parts(content: bytes, boundary: str) -> list[bytes]:
    marker = b"--" + boundary.encode()
    pieces = content.split(marker)
    out = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        out.append(piece.lstrip(b"\r\n"))
    return out


def _headers(text: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def answer_error(answer: Answer) -> ServiceError:
    """Dataverse's error of one batch part."""
    code, message = "", ""
    try:
        error = loads(answer.body).get("error") or {}
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, AttributeError):
        pass
    message = " ".join(message.split())[:500] or f"HTTP {answer.status}"
    return ServiceError(answer.status, code, message)


def send(http: DataverseHttp, parts: Sequence[Part], doing: str) -> list[Answer] | None:
    """One ``$batch`` (at most :data:`MAX_PARTS` parts) with continue-on-error: each part's
    answer, or None when the service did not understand the batch."""
    content_type, content = encode(parts, http.api)
    response = http.send(
        "POST",
        "$batch",
        content=content,
        headers={"Content-Type": content_type, "Prefer": "odata.continue-on-error"},
        idempotent=True,
    )
    if response.status_code in (401, 403):
        raise http.failure(response, doing)
    if response.status_code != 200:
        return None
    try:
        answers = decode(response.headers.get("Content-Type", ""), response.content)
    except ValueError:
        return None
    return answers if len(answers) == len(parts) else None
