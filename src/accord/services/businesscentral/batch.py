"""JSON ``$batch``: ``{"requests":[{id, method, url, headers, body, dependsOn}]}``.

At most 100 requests (BC's limit). Each runs through the same dispatcher as a single
request, in one database transaction with a savepoint per request: a failed request leaves
no trace and the others commit together. With ``Isolation: snapshot`` the batch is
all-or-nothing: the first failure rolls every request back; it answers with its own error and
every other request with 424 (not applied). A request whose ``dependsOn`` failed is not run
(424). Multipart batches are not served.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from accord.services.businesscentral import errors as codes
from accord.services.businesscentral.api import (
    ApiRequest,
    ApiResponse,
    BusinessCentralApi,
    Route,
)
from accord.services.businesscentral.errors import BcError, bad_request

__all__ = ["MAX_BATCH", "handle_batch"]

MAX_BATCH = 100
METHODS = {"GET", "POST", "PATCH", "DELETE"}
logger = logging.getLogger(__name__)


class _RolledBack(Exception):
    """Raised inside the snapshot transaction to undo it; carries the failure's index."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def handle_batch(api: BusinessCentralApi, request: ApiRequest, route: Route) -> ApiResponse:
    if "multipart" in request.headers.get("content-type", ""):
        raise bad_request("Only JSON batch requests (Content-Type: application/json) are served.")
    try:
        payload = json.loads(request.body or b"null")
    except ValueError as exc:
        raise bad_request(f"The batch body is not valid JSON: {exc}.") from None
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise bad_request('A batch body is {"requests": [{"id", "method", "url", ...}]}.')
    if len(items) > MAX_BATCH:
        raise bad_request(
            f"The batch request contains {len(items)} operations; the maximum number of "
            f"operations in a batch is {MAX_BATCH}."
        )
    ids = [str(i.get("id", n)) for n, i in enumerate(items)]
    if len(set(ids)) != len(ids):
        raise bad_request("The ids of the requests of a batch must be unique.")
    snapshot = request.headers.get("isolation", "").strip().lower() == "snapshot"
    if api.stats is not None:
        api.stats.record_batch(len(items))
    results: list[ApiResponse] = []
    failed: set[str] = set()
    try:
        with api.store.transaction():
            for index, (item_id, item) in enumerate(zip(ids, items, strict=True)):
                earlier = ids[:index]
                response = _run(api, request, route, item, item_id, earlier, failed, snapshot)
                results.append(response)
                if response.status >= 400:
                    failed.add(item_id)
                    if snapshot:
                        raise _RolledBack(index)
    except _RolledBack as rollback:
        error = results[rollback.index]
        cause = ids[rollback.index]
        results = [
            error
            if n == rollback.index
            else ApiResponse.error(
                BcError(
                    424,
                    codes.FAILED_DEPENDENCY,
                    f"Not applied: the snapshot batch was rolled back because request "
                    f"'{cause}' failed.",
                )
            )
            for n in range(len(items))
        ]
    responses = [_answer(i, r) for i, r in zip(ids, results, strict=True)]
    return ApiResponse.json(200, {"responses": responses})


def _run(
    api: BusinessCentralApi,
    outer: ApiRequest,
    route: Route,
    item: dict[str, Any],
    item_id: str,
    earlier: list[str],
    failed: set[str],
    snapshot: bool,
) -> ApiResponse:
    try:
        depends = item.get("dependsOn") or []
        if not isinstance(depends, list) or any(str(d) not in earlier for d in depends):
            raise bad_request(
                f"dependsOn of request '{item_id}' must list ids of earlier requests."
            )
        if any(str(d) in failed for d in depends):
            raise BcError(
                424,
                codes.FAILED_DEPENDENCY,
                f"Request '{item_id}' was not run: a request it depends on failed.",
            )
        inner = _inner_request(outer, route, item)
        if api.stats is not None:
            api.stats.record_part(inner.method, inner.path, urlencode(inner.params))
        # NOTE: a snapshot batch rolls back as a whole on the first failure: no savepoints.
        with contextlib.nullcontext() if snapshot else api.store.savepoint():
            return api.route(inner)
    except BcError as error:
        return ApiResponse.error(error)
    except Exception as exc:  # a defect: this request fails, the batch goes on
        logger.exception("unexpected error in batch request %s", item_id)
        defect = BcError(500, codes.UNEXPECTED, f"An unexpected error occurred: {exc}")
        return ApiResponse.error(defect)


def _inner_request(outer: ApiRequest, route: Route, item: dict[str, Any]) -> ApiRequest:
    method = str(item.get("method", "")).upper()
    if method not in METHODS:
        raise bad_request(f"The batch request method '{item.get('method')}' is not supported.")
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise bad_request("Every batch request needs a url.")
    parts = urlsplit(url)
    if parts.scheme or url.startswith("/"):
        path = parts.path
    else:
        path = urlsplit(route.api_base).path + "/" + parts.path
    path = unquote(path)
    if path.rstrip("/").endswith("/$batch"):
        raise bad_request("A batch cannot contain another batch.")
    headers = {str(k).lower(): str(v) for k, v in dict(item.get("headers") or {}).items()}
    body = item.get("body")
    return ApiRequest(
        method=method,
        path=path,
        params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=b"",
        origin=outer.origin,
        parsed=body,
    )


def _answer(item_id: str, response: ApiResponse) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": item_id, "status": response.status, "headers": {}}
    for name, value in response.headers.items():
        if name.lower() in (
            "content-type",
            "etag",
            "location",
            "odata-version",
            "preference-applied",
        ):
            answer["headers"][name.lower()] = value
    if response.data is not None:
        answer["body"] = response.data
    elif response.body:
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            answer["body"] = json.loads(response.body)
        else:
            answer["body"] = response.body.decode()
    return answer
