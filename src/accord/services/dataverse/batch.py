"""``POST $batch``: multipart/mixed requests, atomic change sets, ``Content-ID`` references.

Each part runs through :class:`DataverseApi` like a request of its own. A change set runs in
one transaction and answers with one error for the whole set if any part fails. Without
``Prefer: odata.continue-on-error`` the batch stops at the first failure and answers 400 with
that failure alone; with it, every part runs and the batch answers 200.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

from accord.services.dataverse import errors as codes
from accord.services.dataverse.api import API_PATH, ApiRequest, ApiResponse, DataverseApi
from accord.services.dataverse.errors import DataverseError
from accord.services.dataverse.query import Prefer

__all__ = ["MAX_REQUESTS", "handle_batch"]

MAX_REQUESTS = 1000
"""Dataverse's limit of requests in one batch (change set members counted one by one)."""
MAX_PART_URL = 64 * 1024
"""Longest URL of a request inside a batch (outside, 32 KB)."""
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class _Rollback(Exception):
    """Undoes a change set whose part failed; carries that part's answer."""

    def __init__(self, part: _Part, response: ApiResponse) -> None:
        self.part = part
        self.response = response


@dataclass
class _Part:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None


@dataclass
class _Item:
    """A top-level member of the batch: one request, or a change set of several."""

    parts: list[_Part] = field(default_factory=list)
    changeset: bool = False


def _bad(message: str) -> DataverseError:
    return DataverseError(400, codes.BAD_REQUEST, message)


def _split(body: bytes, boundary: str) -> list[bytes]:
    delimiter = b"--" + boundary.encode()
    pieces = body.split(delimiter)
    if len(pieces) < 2:
        raise _bad(f"The batch body has no part delimited by '--{boundary}'.")
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the close delimiter
        parts.append(piece.lstrip(b"\r\n"))
    return parts


def _headers_and_body(block: bytes) -> tuple[dict[str, str], bytes]:
    head, _, rest = block.replace(b"\r\n", b"\n").partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parse_request(mime_headers: dict[str, str], block: bytes) -> _Part:
    http = block.replace(b"\r\n", b"\n")
    request_line, _, rest = http.partition(b"\n")
    words = request_line.decode("latin-1").split()
    if len(words) < 2:
        raise _bad(f"A batch part has no request line: '{request_line.decode('latin-1')}'.")
    if len(words) > 2 and words[-1].startswith("HTTP/"):
        words = [words[0], " ".join(words[1:-1])]  # a URL with unencoded spaces
    headers, body = _headers_and_body(rest)
    return _Part(
        method=words[0].upper(),
        url=words[1],
        headers=headers,
        body=body.rstrip(b"\n"),
        # NOTE: the MIME part's headers carry Content-ID; some clients put it with the request's
        content_id=mime_headers.get("content-id") or headers.get("content-id"),
    )


def _parse(body: bytes, content_type: str) -> list[_Item]:
    match = _BOUNDARY.search(content_type)
    if match is None or not content_type.lower().startswith("multipart/mixed"):
        raise _bad("A $batch request must be multipart/mixed with a boundary.")
    items: list[_Item] = []
    for block in _split(body, match.group(1)):
        mime, rest = _headers_and_body(block)
        kind = mime.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            inner = _BOUNDARY.search(kind)
            if inner is None:
                raise _bad("A change set has no boundary.")
            item = _Item(changeset=True)
            for sub in _split(rest, inner.group(1)):
                sub_mime, sub_rest = _headers_and_body(sub)
                if sub_mime.get("content-type", "").lower().startswith("multipart/"):
                    raise _bad("Change sets cannot be nested.")
                part = _parse_request(sub_mime, sub_rest)
                if part.method == "GET":
                    raise _bad("A change set cannot contain a GET request.")
                item.parts.append(part)
            items.append(item)
        else:
            items.append(_Item(parts=[_parse_request(mime, rest)]))
    return items


def _inner_request(part: _Part, outer: ApiRequest, ids: dict[str, str]) -> ApiRequest:
    """The part as an API request, with ``$n`` references replaced by the URLs they name."""
    url = part.url
    if len(url) > MAX_PART_URL:
        raise DataverseError(
            414, codes.BAD_REQUEST, f"The request URL is longer than {MAX_PART_URL:,} characters."
        )
    if url.startswith("$"):
        ref, _, tail = url[1:].partition("/")
        if ref not in ids:
            raise _bad(f"Content-ID reference '${ref}' does not name an earlier request.")
        url = ids[ref] + (f"/{tail}" if tail else "")
    body = part.body
    if ids and b'"$' in body:
        for ref, target in sorted(ids.items(), key=lambda kv: -len(kv[0])):
            relative = target.split(API_PATH, 1)[-1]
            body = body.replace(f'"${ref}"'.encode(), f'"/{relative}"'.encode())
    split = urlsplit(url)
    path = split.path
    if API_PATH in path:
        path = path.split(API_PATH, 1)[1]
    elif path.startswith("/"):
        path = path.lstrip("/")
    return ApiRequest(
        method=part.method,
        path=unquote(path),
        params=dict(parse_qsl(split.query, keep_blank_values=True)),
        headers=part.headers,
        body=body,
        base=outer.base,
    )


def _render(response: ApiResponse, content_id: str | None) -> str:
    reason = HTTPStatus(response.status).phrase
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    lines += ["", response.body.decode()]
    return "\r\n".join(lines)


def handle_batch(api: DataverseApi, request: ApiRequest) -> ApiResponse:
    items = _parse(request.body, request.headers.get("content-type", ""))
    total = sum(len(i.parts) for i in items)
    if total > MAX_REQUESTS:
        raise _bad(
            f"The number of requests in a batch ({total}) exceeds the maximum of {MAX_REQUESTS}."
        )
    keep_going = Prefer.parse(request.headers.get("prefer")).continue_on_error
    ids: dict[str, str] = {}
    rendered: list[str] = []
    failed = False
    for item in items:
        if item.changeset:
            change_id = f"changesetresponse_{uuid.uuid4()}"
            try:
                answers = _run_changeset(api, item, request, ids)
            except _Rollback as rollback:
                rendered_part = _render(rollback.response, rollback.part.content_id)
                failed = True
                if not keep_going:
                    rendered = [rendered_part]
                    break
                rendered.append(rendered_part)
                continue
            inner = "".join(f"--{change_id}\r\n{_render(r, p.content_id)}\r\n" for p, r in answers)
            rendered.append(
                f"Content-Type: multipart/mixed; boundary={change_id}\r\n\r\n"
                f"{inner}--{change_id}--\r\n"
            )
            continue
        part = item.parts[0]
        response = _run(api, part, request, ids)
        if response.status >= 400:
            failed = True
            if not keep_going:
                rendered = [_render(response, part.content_id)]
                break
        rendered.append(_render(response, part.content_id))
    boundary = f"batchresponse_{uuid.uuid4()}"
    body = "".join(f"--{boundary}\r\n{r}\r\n" for r in rendered) + f"--{boundary}--\r\n"
    status = 400 if failed and not keep_going else 200
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    if keep_going:
        headers["Preference-Applied"] = "odata.continue-on-error"
    return ApiResponse(status, headers, body.encode())


def _run(api: DataverseApi, part: _Part, outer: ApiRequest, ids: dict[str, str]) -> ApiResponse:
    try:
        inner = _inner_request(part, outer, ids)
    except DataverseError as error:
        return ApiResponse.error(error)
    if inner.path.startswith("$batch"):
        return ApiResponse.error(_bad("A batch cannot contain another batch."))
    response = api.handle(inner)
    entity = response.headers.get("OData-EntityId")
    if entity:
        response.headers.setdefault("Location", entity)
        if part.content_id:
            ids[part.content_id] = entity
    return response


def _run_changeset(
    api: DataverseApi, item: _Item, outer: ApiRequest, ids: dict[str, str]
) -> list[tuple[_Part, ApiResponse]]:
    """All parts in one transaction; raises :class:`_Rollback` (after undoing) on a failure."""
    answers: list[tuple[_Part, ApiResponse]] = []
    saved = dict(ids)
    try:
        with api.records.store.transaction():
            for part in item.parts:
                response = _run(api, part, outer, ids)
                if response.status >= 400:
                    raise _Rollback(part, response)
                answers.append((part, response))
    except _Rollback:
        ids.clear()
        ids.update(saved)
        raise
    return answers
