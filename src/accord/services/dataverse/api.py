"""The Web API dispatcher: a request under ``/api/data/v9.2/`` in, a response out.

Plain data in and out (:class:`ApiRequest`, :class:`ApiResponse`) rather than Starlette
objects, so that ``$batch`` runs its parts through the very same code as single requests.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.services.dataverse import errors as codes
from accord.services.dataverse.errors import DataverseError, does_not_exist, not_found_segment
from accord.services.dataverse.metadata import csdl, entity_definitions, service_document
from accord.services.dataverse.query import (
    Prefer,
    apply_expand,
    parse_expand,
    query_collection,
    select_attributes,
)
from accord.services.dataverse.records import (
    Records,
    check_etag,
    etag,
    missing_by_key,
    parse_guid,
)
from accord.services.dataverse.schema import Table

__all__ = ["API_PATH", "ApiRequest", "ApiResponse", "DataverseApi"]

API_PATH = "/api/data/v9.2/"
JSON_TYPE = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)
ACTIONS = "$metadata#Microsoft.Dynamics.CRM."
_RECORD = re.compile(r"^(?P<set>[A-Za-z_]\w*)\((?P<key>[^)]*)\)$")
BULK_ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


@dataclass
class ApiRequest:
    method: str
    path: str
    """Below the API root, percent-decoded: ``accounts(…)``, ``$batch``."""
    params: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    base: str
    """The absolute API root, ``https://127.0.0.1:PORT/api/data/v9.2/``."""


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, {"Content-Type": JSON_TYPE, **(headers or {})}, text)

    @classmethod
    def error(cls, error: DataverseError) -> ApiResponse:
        return cls.json(error.status, error.body())


class DataverseApi:
    """Routes one request to metadata, queries, writes or bulk actions."""

    def __init__(self, records: Records, organization_id: str, user_id: str) -> None:
        self.records = records
        self.schema = records.schema
        self.organization_id = organization_id
        self.user_id = user_id
        self.batch_handler: Any = None  # set by the batch module (avoids an import cycle)
        self.denied: set[tuple[str, str]] = set()
        """(table, privilege) pairs the caller lacks: ``read``, ``create``, ``write``,
        ``delete``; a request that needs one answers 403 as Dataverse does."""

    def require(self, table: Table, privilege: str) -> None:
        if (table.logical_name, privilege) not in self.denied:
            return
        name = f"prv{privilege.capitalize()}{table.logical_name.capitalize()}"
        privilege_id = uuid.uuid5(uuid.NAMESPACE_OID, name)
        raise DataverseError(
            403,
            codes.PRIVILEGE,
            f"Principal user (Id={self.user_id}, type=8, roleCount=1, privilegeCount=0, "
            f"accessMode=4), is missing {name} privilege (Id={privilege_id}) "
            f"on OTC=0 for entity '{table.logical_name}'.",
        )

    def handle(self, request: ApiRequest) -> ApiResponse:
        try:
            response = self._route(request)
        except DataverseError as error:
            response = ApiResponse.error(error)
        response.headers.setdefault("OData-Version", "4.0")
        request_id = str(uuid.uuid4())
        response.headers.setdefault("REQ_ID", request_id)
        response.headers.setdefault("x-ms-service-request-id", request_id)
        return response

    def _route(self, request: ApiRequest) -> ApiResponse:
        segments = [s for s in request.path.split("/") if s] if request.path else []
        method = request.method
        if not segments:
            return ApiResponse.json(200, service_document(self.schema, request.base))
        head = segments[0]
        if head == "$metadata":
            text = csdl(self.schema, request.params.get("annotations") == "true")
            return ApiResponse(200, {"Content-Type": "application/xml"}, text.encode())
        if head == "$batch":
            if method != "POST" or self.batch_handler is None:
                raise _method_not_allowed(method)
            result: ApiResponse = self.batch_handler(self, request)
            return result
        if head == "WhoAmI":
            return ApiResponse.json(
                200,
                {
                    "@odata.context": f"{request.base}{ACTIONS}WhoAmIResponse",
                    "BusinessUnitId": self.organization_id,
                    "UserId": self.user_id,
                    "OrganizationId": self.organization_id,
                },
            )
        if head.startswith("EntityDefinitions"):
            if method != "GET":
                raise _method_not_allowed(method)
            body = entity_definitions(self.schema, segments, request.params, request.base)
            return ApiResponse.json(200, body)
        table = self.schema.by_set.get(head)
        if table is not None:
            return self._collection(table, segments[1:], request)
        match = _RECORD.match(head)
        table = self.schema.by_set.get(match.group("set")) if match else None
        if match is None or table is None:
            raise not_found_segment(match.group("set") if match else head)
        record_id, key_values = self.records.resolve(table, match.group("key"))
        if len(segments) > 1:
            raise not_found_segment(segments[1])
        return self._record(table, record_id, key_values, request)

    # ---- collections ---------------------------------------------------------------------

    def _collection(self, table: Table, rest: list[str], request: ApiRequest) -> ApiResponse:
        prefer = Prefer.parse(request.headers.get("prefer"))
        if rest:
            action = rest[0].removeprefix("Microsoft.Dynamics.CRM.")
            if len(rest) == 1 and rest[0] == "$count" and request.method == "GET":
                count = self.records.store.scalar(
                    f'SELECT COUNT(*) FROM "{table.logical_name}"', ()
                )
                return ApiResponse(
                    200, {"Content-Type": "text/plain"}, str(min(count, 5000)).encode()
                )
            if len(rest) == 1 and action in BULK_ACTIONS and rest[0].startswith("Microsoft."):
                if request.method != "POST":
                    raise _method_not_allowed(request.method)
                return self._bulk(table, action, request)
            raise not_found_segment(rest[0])
        if request.method == "GET":
            self.require(table, "read")
            result = query_collection(self.records, table, request.params, prefer, request.base)
            headers = {"Preference-Applied": ",".join(result.applied)} if result.applied else {}
            return ApiResponse.json(200, result.body, headers)
        if request.method == "POST":
            self.require(table, "create")
            body = _json_body(request)
            row = self.records.create_many(table, [body])[0]
            return self._written(table, row, request, prefer, created=True)
        raise _method_not_allowed(request.method)

    def _bulk(self, table: Table, action: str, request: ApiRequest) -> ApiResponse:
        body = _json_body(request)
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise DataverseError(
                400, codes.BAD_REQUEST, f'{action} expects a body {{"Targets": [...]}}.'
            )
        self.require(table, "create" if action == "CreateMultiple" else "write")
        if action == "UpsertMultiple":
            self.require(table, "create")
        if action == "CreateMultiple":
            rows = self.records.create_many(table, targets)
            return ApiResponse.json(
                200,
                {
                    "@odata.context": f"{request.base}{ACTIONS}CreateMultipleResponse",
                    "Ids": [r[table.primary_id] for r in rows],
                },
            )
        if action == "UpdateMultiple":
            changes = []
            for target in targets:
                record_id, key_values = self._target_id(table, target)
                if record_id is None:
                    raise missing_by_key(table, key_values)
                body = {k: v for k, v in target.items() if k != "@odata.id"}
                changes.append((record_id, body))
            self.records.update_many(table, changes)
            return ApiResponse(204)
        items = []
        for target in targets:
            record_id, key_values = self._target_id(table, target)
            body = {k: v for k, v in target.items() if k != "@odata.id"}
            if record_id is None:  # a new record by alternate key: the key values are its own
                record_id = str(uuid.uuid4())
                body.update(key_values)
            items.append((record_id, body))
        self.records.upsert_many(table, items)
        return ApiResponse(204)

    # ---- single records ------------------------------------------------------------------

    def _target_id(
        self, table: Table, target: Mapping[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """A bulk target's id: its primary key, or its ``@odata.id`` (``accounts(<guid>)``
        or ``accounts(accountnumber='A1')``); None and the key values if no row has them."""
        value = target.get(table.primary_id)
        if isinstance(value, str) and parse_guid(value):
            return parse_guid(value), {}
        odata_id = target.get("@odata.id")
        if isinstance(odata_id, str):
            match = _RECORD.match(odata_id.rsplit("/", 1)[-1])
            if match and match.group("set") == table.entity_set:
                return self.records.resolve(table, match.group("key"))
        raise DataverseError(
            400,
            codes.BAD_REQUEST,
            f"Each target needs its primary key '{table.primary_id}' or an '@odata.id'.",
        )

    def _record(
        self,
        table: Table,
        found_id: str | None,
        key_values: dict[str, Any],
        request: ApiRequest,
    ) -> ApiResponse:
        """One record by id, or by alternate key (``found_id`` None: no row has the key)."""
        method = request.method
        if found_id is None and method != "PATCH":
            raise missing_by_key(table, key_values)
        record_id = found_id or str(uuid.uuid4())
        headers = request.headers
        prefer = Prefer.parse(headers.get("prefer"))
        privilege = {"GET": "read", "DELETE": "delete", "PATCH": "write"}.get(method)
        if privilege:
            self.require(table, privilege)
        if method == "GET":
            row = self.records.store.get(table, record_id)
            if row is None:
                raise does_not_exist(table.logical_name, record_id)
            none_match = headers.get("if-none-match")
            if none_match and "$expand" not in request.params and prefer.annotations is None:
                tags = {t.strip() for t in none_match.split(",")}
                if etag(row) in tags or "*" in tags:
                    return ApiResponse(304, {"ETag": etag(row)})
            return self._representation(table, row, request, prefer, 200)
        if method == "DELETE":
            self.records.delete(table, record_id, if_match=headers.get("if-match"))
            return ApiResponse(204)
        if method == "PATCH":
            body = _json_body(request)
            if_match = headers.get("if-match")
            if_none_match = headers.get("if-none-match")
            with self.records.store.transaction():
                current = self.records.store.get(table, record_id)
                if current is None:
                    if if_match is not None:
                        if found_id is None:
                            raise missing_by_key(table, key_values)
                        raise does_not_exist(table.logical_name, record_id)
                    self.require(table, "create")
                    if isinstance(body, dict) and key_values:
                        body = {**body, **key_values}
                    row = self.records.create_many(table, [body], record_ids=[record_id])[0]
                    created = True
                else:
                    if if_none_match is not None and if_none_match.strip() == "*":
                        raise DataverseError(
                            412,
                            codes.DUPLICATE,
                            "A record with matching key values already exists.",
                        )
                    check_etag(current, if_match)
                    row = self.records.update_many(table, [(record_id, body)])[0]
                    created = False
            return self._written(table, row, request, prefer, created=created)
        raise _method_not_allowed(method)

    def _written(
        self,
        table: Table,
        row: dict[str, Any],
        request: ApiRequest,
        prefer: Prefer,
        *,
        created: bool,
    ) -> ApiResponse:
        entity_url = f"{request.base}{table.entity_set}({row[table.primary_id]})"
        if prefer.return_representation:
            response = self._representation(table, row, request, prefer, 201 if created else 200)
            response.headers["Preference-Applied"] = "return=representation"
            return response
        return ApiResponse(204, {"OData-EntityId": entity_url})

    def _representation(
        self, table: Table, row: dict[str, Any], request: ApiRequest, prefer: Prefer, status: int
    ) -> ApiResponse:
        attributes = select_attributes(table, request.params.get("$select"))
        body = self.records.to_json(table, row, attributes, annotations=prefer.annotations)
        select = request.params.get("$select")
        context = f"{request.base}$metadata#{table.entity_set}" + (f"({select})" if select else "")
        if "$expand" in request.params:
            expand = parse_expand(self.schema, table, request.params["$expand"])
            apply_expand(self.records, [row], [body], expand, prefer.annotations)
        return ApiResponse.json(
            status, {"@odata.context": f"{context}/$entity", **body}, {"ETag": etag(row)}
        )


def _json_body(request: ApiRequest) -> Any:
    try:
        return json.loads(request.body or b"{}")
    except ValueError:
        raise DataverseError(
            400, codes.PAYLOAD_ERROR, "The request body is not valid JSON."
        ) from None


def _method_not_allowed(method: str) -> DataverseError:
    return DataverseError(
        405, codes.BAD_REQUEST, f"The HTTP method '{method}' is not allowed here."
    )
