"""The API dispatcher: a request under ``/v2.0/{tenant}/{environment}/api/…`` in, a response out.

Plain data in and out (:class:`ApiRequest`, :class:`ApiResponse`), so that ``$batch`` runs
its requests through the very same code as single ones. Routes::

    api/v2.0/                                   service document
    api/v2.0/$metadata                          CSDL
    api/v2.0/$batch                             JSON batch (see batch.py)
    api/v2.0/companies[(id)]
    api/v2.0/companies(id)/customers[(id)]      also /$count
    api/{publisher}/{group}/{version}/…         custom APIs, the same below
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.services.businesscentral import errors as codes
from accord.services.businesscentral.errors import BcError, bad_request, not_found
from accord.services.businesscentral.filter import compile_filter
from accord.services.businesscentral.metadata import csdl, service_document
from accord.services.businesscentral.query import CollectionQuery, expand_one, page_size
from accord.services.businesscentral.records import Records, ms_to_iso
from accord.services.businesscentral.schema import (
    EMPTY_GUID,
    STANDARD_API,
    EntitySet,
    Field,
    Schema,
)
from accord.services.businesscentral.store import Company
from accord.services.common.stats import RequestStats

__all__ = ["ApiRequest", "ApiResponse", "BusinessCentralApi"]

JSON_TYPE = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
SYSTEM_VERSION = "24.0.16410.18056"
PERMISSIONS = {"GET": "read", "POST": "insert", "PATCH": "modify", "DELETE": "delete"}
_KEYED = re.compile(r"^(?P<name>[A-Za-z]\w*)\((?P<key>[^)]*)\)$")
COMPANY_SET = EntitySet(
    name="companies",
    entity="company",
    caption="Company",
    api=STANDARD_API,
    fields={
        "id": Field("id", "Guid", read_only=True),
        "name": Field("name", "String", 30),
        "displayName": Field("displayName", "String", 250),
    },
)
"""What ``$filter`` on companies may name."""


@dataclass
class ApiRequest:
    method: str
    path: str
    """The URL path, percent-decoded: ``/v2.0/{tenant}/{env}/api/v2.0/companies(…)/customers``."""
    params: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes
    origin: str
    """``https://127.0.0.1:PORT``."""
    parsed: Any = None
    """The body already parsed (a ``$batch`` request's), else None: parse ``body``."""


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    data: Any = None
    """The JSON body as data (a ``$batch`` answer embeds it without parsing it back)."""

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
        return cls(status, {"Content-Type": JSON_TYPE, **(headers or {})}, b"", data)

    def content(self) -> bytes:
        """The body as sent (JSON is encoded only here: a batch's parts never need it)."""
        if self.data is not None and not self.body:
            self.body = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False).encode()
        return self.body

    @classmethod
    def error(cls, error: BcError) -> ApiResponse:
        return cls.json(error.status, error.body())


@dataclass
class Route:
    """Where a request points once its URL is parsed."""

    api: str
    api_base: str
    """Absolute URL of the API route, ``…/api/v2.0`` (no slash)."""
    rest: list[str]


class BusinessCentralApi:
    """Routes one request to metadata, companies, entity reads and writes, or ``$batch``."""

    def __init__(
        self,
        schema: Schema,
        records: Records,
        tenant: Callable[[], str],
        environment: str,
        instance: str = "BC",
    ) -> None:
        self.instance = instance
        """The server instance of the on-premises layout, ``/{instance}/api/v2.0``."""
        self.schema = schema
        self.records = records
        self.store = records.store
        self.tenant = tenant
        self.environment = environment
        self.batch_handler: Any = None  # set by batch.py (avoids an import cycle)
        self.stats: RequestStats | None = None
        """Where the requests inside batches are counted (the service's stats)."""
        self.denied: set[tuple[str, str, str]] = set()
        """(api, entity set, permission) the caller lacks: ``read``, ``insert``, ``modify``,
        ``delete``; a request needing one answers 403 as BC does."""

    def handle(self, request: ApiRequest) -> ApiResponse:
        """Answer one request; a write commits (or rolls back) on its own."""
        try:
            if request.method == "GET" or request.path.rstrip("/").endswith("/$batch"):
                response = self.route(request)  # a batch runs its own transaction
            else:
                with self.store.transaction():
                    response = self.route(request)
        except BcError as error:
            response = ApiResponse.error(error)
        return finish(response)

    def parse(self, path: str, origin: str) -> Route:
        segments = [s for s in path.split("/") if s]
        tenant, environment = self.tenant(), self.environment
        if segments[:1] == [self.instance]:
            prefix = 1  # on-premises: /{instance}/api/…
        elif segments[:1] != ["v2.0"]:
            raise not_found(f"The resource '{path}'")
        elif segments[1:3] == [environment, "api"]:
            prefix = 2  # /v2.0/{environment}/api/… (the tenant comes from the token)
        elif (
            len(segments) > 2
            and segments[1].lower() == tenant.lower()
            and segments[2] == environment
        ):
            prefix = 3
        else:
            raise BcError(
                404,
                codes.NOT_FOUND,
                f"The environment '{'/'.join(segments[1:3])}' was not found (this service "
                f"serves tenant '{tenant}', environment '{environment}').",
            )
        if segments[prefix : prefix + 1] != ["api"]:
            raise not_found(f"The resource '{path}'")
        after = segments[prefix + 1 :]
        if after[:1] == [STANDARD_API]:
            api, rest = STANDARD_API, after[1:]
        elif len(after) >= 3 and "/".join(after[:3]) in self.schema.apis:
            api, rest = "/".join(after[:3]), after[3:]
        else:
            raise not_found(f"The API '{'/'.join(after[:3])}'")
        base = origin + "/" + "/".join(segments[: prefix + 1]) + "/" + api
        return Route(api, base, rest)

    def route(self, request: ApiRequest) -> ApiResponse:
        route = self.parse(request.path, request.origin)
        sets = self.schema.apis[route.api]
        rest, method = route.rest, request.method
        if not rest:
            _allow(method, "GET")
            return ApiResponse.json(200, service_document(sets, route.api_base))
        head = rest[0]
        if head == "$metadata":
            _allow(method, "GET")
            return ApiResponse(200, {"Content-Type": "application/xml"}, csdl(sets).encode())
        if head == "$batch":
            _allow(method, "POST")
            if len(rest) > 1:
                raise not_found("The resource")
            return self.batch_handler(self, request, route)  # type: ignore[no-any-return]
        match = _KEYED.match(head)
        name = match.group("name") if match else head
        if name != "companies":
            raise not_found(f"The resource '{head}'")
        if match is None:
            if len(rest) > 1:
                raise not_found(f"The resource '{rest[1]}'")
            _allow(method, "GET")
            return self.list_companies(request, route)
        company = self.company(match.group("key"))
        if len(rest) == 1:
            _allow(method, "GET")
            body = {
                "@odata.context": f"{route.api_base}/$metadata#companies/$entity",
                **company_json(company),
            }
            return ApiResponse.json(200, body)
        return self.entities(request, route, company, rest[1:])

    def require(self, entity_set: EntitySet, permission: str) -> None:
        if (entity_set.api, entity_set.name, permission) in self.denied:
            raise BcError(
                403,
                codes.PERMISSIONS,
                f"You do not have the following permissions on TableData "
                f"{entity_set.caption}: {permission.capitalize()}",
            )

    def company(self, key: str) -> Company:
        key = key.strip("'")
        try:
            company_id = str(uuid.UUID(key))
        except ValueError:
            raise bad_request(f"'{key}' is not a valid company id (a GUID).") from None
        company = self.store.company(company_id)
        if company is None:
            raise BcError(
                404, codes.NOT_FOUND, f"The company with id '{company_id}' does not exist."
            )
        return company

    def list_companies(self, request: ApiRequest, route: Route) -> ApiResponse:
        where, params = "1 = 1", ()
        text = request.params.get("$filter")
        if text:
            where, params = compile_filter(text, COMPANY_SET)
        values = [company_json(c) for c in self.store.companies(where, params)]
        body = {"@odata.context": f"{route.api_base}/$metadata#companies", "value": values}
        return ApiResponse.json(200, body)

    def entities(
        self, request: ApiRequest, route: Route, company: Company, rest: list[str]
    ) -> ApiResponse:
        sets = self.schema.apis[route.api]
        match = _KEYED.match(rest[0])
        name = match.group("name") if match else rest[0]
        entity_set = sets.get(name)
        if entity_set is None:
            raise not_found(f"The resource '{name}'")
        context = f"{route.api_base}/$metadata#companies({company.id})/{name}"
        link = f"{route.api_base}/companies({company.id})/{name}"
        method = request.method
        self.require(entity_set, PERMISSIONS.get(method, "read"))
        if match is None:
            if len(rest) == 2 and rest[1] == "$count":
                _allow(method, "GET")
                query = CollectionQuery(
                    self.records, self.schema, entity_set, company.id, request.params
                )
                where, params = query.where()
                sql = f'SELECT COUNT(*) FROM "{entity_set.table}" WHERE {where}'
                count = int(self.store.scalar(sql, params))
                return ApiResponse(200, {"Content-Type": "text/plain"}, str(count).encode())
            if len(rest) > 1:
                raise not_found(f"The resource '{rest[1]}'")
            if method == "GET":
                return self.read_collection(request, entity_set, company, context, link)
            _allow(method, "GET", "POST")
            row = self.records.create(entity_set, company.id, _json_body(request))
            body = {"@odata.context": f"{context}/$entity", **self.records.to_json(entity_set, row)}
            headers = {"ETag": body["@odata.etag"], "Location": f"{link}({row['id']})"}
            return ApiResponse.json(201, body, headers)
        row_id = match.group("key").strip("'")
        if len(rest) == 2 and rest[1] in entity_set.navigations:
            _allow(method, "GET")
            return self.navigate(request, route, entity_set, company, row_id, rest[1])
        if len(rest) > 1:
            raise not_found(f"The resource '{rest[1]}'")
        if method == "GET":
            row = self.records.get(entity_set, company.id, row_id)
            return self.single(request, entity_set, company, row, context)
        if_match = request.headers.get("if-match")
        if method == "PATCH":
            row = self.records.update(entity_set, company.id, row_id, _json_body(request), if_match)
            return self.single(request, entity_set, company, row, context)
        _allow(method, "GET", "PATCH", "DELETE")
        self.records.delete(entity_set, company.id, row_id, if_match)
        return ApiResponse(204)

    def navigate(
        self,
        request: ApiRequest,
        route: Route,
        entity_set: EntitySet,
        company: Company,
        row_id: str,
        name: str,
    ) -> ApiResponse:
        """``customers({id})/currency``: the entity a navigation property points to."""
        row = self.records.get(entity_set, company.id, row_id)
        nav = entity_set.navigations[name]
        target_set = self.schema.apis[route.api][nav.target]
        target = self.store.get(target_set, company.id, row[nav.field])
        if target is None:
            return ApiResponse(204)
        context = f"{route.api_base}/$metadata#companies({company.id})/{target_set.name}"
        return self.single(request, target_set, company, target, context)

    def single(
        self,
        request: ApiRequest,
        entity_set: EntitySet,
        company: Company,
        row: dict[str, Any],
        context: str,
    ) -> ApiResponse:
        from accord.services.businesscentral.query import parse_select

        select = parse_select(entity_set, request.params.get("$select"))
        body = {
            "@odata.context": f"{context}/$entity",
            **self.records.to_json(entity_set, row, select),
        }
        expand_one(
            self.records,
            self.schema,
            entity_set,
            company.id,
            row,
            body,
            request.params.get("$expand"),
        )
        return ApiResponse.json(200, body, {"ETag": body["@odata.etag"]})

    def read_collection(
        self, request: ApiRequest, entity_set: EntitySet, company: Company, context: str, link: str
    ) -> ApiResponse:
        size, asked = page_size(request.headers.get("prefer"))
        query = CollectionQuery(
            self.records, self.schema, entity_set, company.id, request.params, size
        )
        result = query.run(link)
        body = {"@odata.context": context, **result}
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if asked else {}
        return ApiResponse.json(200, body, headers)


def company_json(company: Company) -> dict[str, Any]:
    return {
        "id": company.id,
        "systemVersion": SYSTEM_VERSION,
        "timestamp": company.modified,
        "name": company.name,
        "displayName": company.display_name,
        "businessProfileId": "",
        "systemCreatedAt": ms_to_iso(company.created),
        "systemCreatedBy": EMPTY_GUID,
        "systemModifiedAt": ms_to_iso(company.modified),
        "systemModifiedBy": EMPTY_GUID,
    }


def finish(response: ApiResponse) -> ApiResponse:
    response.headers.setdefault("OData-Version", "4.0")
    response.headers.setdefault("request-id", str(uuid.uuid4()))
    response.headers.setdefault(
        "Date", dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    )
    return response


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise BcError(
            405,
            codes.METHOD_NOT_ALLOWED,
            f"The HTTP method '{method}' is not allowed here (allowed: {', '.join(allowed)}).",
        )


def _json_body(request: ApiRequest) -> Any:
    if request.parsed is not None:
        return request.parsed
    if not request.body.strip():
        raise bad_request("The request body is empty; a JSON object is expected.")
    try:
        return json.loads(request.body)
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}.") from None
