"""``LocalBusinessCentral``: the service started in-process, for tests, the demo and the CLI.

::

    with LocalBusinessCentral.start(data_dir=tmp_path) as bc:
        company = bc.company_ids["CRONUS USA, Inc."]
        httpx.get(f"{bc.url}/companies({company})/customers",
                  headers={"Authorization": f"Bearer {bc.token}"}, verify=str(bc.ca_file))
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.services.businesscentral.api import BusinessCentralApi
from accord.services.businesscentral.app import build_app
from accord.services.businesscentral.batch import handle_batch
from accord.services.businesscentral.filter import parse_instant
from accord.services.businesscentral.records import Records
from accord.services.businesscentral.schema import STANDARD_API, EntitySet, Schema, load_schema
from accord.services.businesscentral.store import Store
from accord.services.common.auth import Credentials
from accord.services.common.faults import FaultConfig
from accord.services.common.lifecycle import LocalService
from accord.services.common.limiter import Budget, RequestLimiter
from accord.services.common.stats import RequestStats

__all__ = ["BC_BUDGET", "BC_RESOURCE", "DEFAULT_COMPANIES", "LocalBusinessCentral"]

BC_RESOURCE = "https://api.businesscentral.dynamics.com"
"""BC's public resource: a token for ``{BC_RESOURCE}/.default`` is accepted too."""
BC_BUDGET = Budget(requests=6000, window=300.0, concurrent=100)
"""BC online's limits: 6000 requests per 5 minutes per user, 100 connections at most."""
DEFAULT_COMPANIES = ("CRONUS USA, Inc.",)


class LocalBusinessCentral(LocalService):
    """A running local Business Central environment: URL, credentials, CA file, data access.

    ``faults`` and ``budget`` may be changed while it runs; the next request sees them.
    """

    store: Store

    def __init__(
        self,
        *,
        data_dir: Path | None,
        schema: Schema,
        tls: bool,
        port: int,
        faults: FaultConfig | None,
        budget: Budget | None,
        companies: Sequence[str],
        environment: str,
        credentials: Credentials | None,
        token_lifetime: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self.schema = schema
        self.data_dir = self._open_folder(data_dir)
        self.store = Store(schema, data_dir / "businesscentral.db" if data_dir else None)
        self.records = Records(self.store, clock or time.time)
        self.faults = faults
        self.limiter = RequestLimiter(budget) if budget else None
        self.stats = RequestStats()
        """API requests answered (authenticated ones; a ``$batch`` is one), by method and
        status; ``stats.reset()`` starts a new count."""
        self.environment = environment
        self._make_tls(data_dir, tls=tls, prefix="accord-bc-")
        self._make_issuer(
            credentials,
            data_dir,
            resource=lambda: self.root,
            lifetime=token_lifetime,
            extra_resources=(BC_RESOURCE,),
        )
        self.api = BusinessCentralApi(schema, self.records, lambda: self.tenant, environment)
        self.api.batch_handler = handle_batch
        self.api.stats = self.stats
        with self.store.lock, self.store.transaction():
            for name in companies:
                self.store.add_company(name, self.records.now_ms())
        app = build_app(
            self.api,
            self.issuer,
            origin=lambda: self.root,
            faults=lambda: self.faults,
            limiter=lambda: self.limiter,
            stats=self.stats,
        )
        self.root: str = self._make_server(app, port)
        """``https://127.0.0.1:PORT``."""

    @classmethod
    def start(
        cls,
        data_dir: Path | None = None,
        schema: Schema | Path | Mapping[str, Any] | None = None,
        tls: bool = True,
        port: int = 0,
        faults: FaultConfig | None = None,
        budget: Budget | None = None,
        companies: Sequence[str] = DEFAULT_COMPANIES,
        *,
        environment: str = "production",
        credentials: Credentials | None = None,
        token_lifetime: int = 3599,
        clock: Callable[[], float] | None = None,
    ) -> LocalBusinessCentral:
        """Start serving (port 0: a free port); use as a context manager or call ``stop()``.

        ``data_dir`` holds the SQLite database, credentials and TLS files (None: in memory
        and a temporary folder). ``schema``: a :class:`Schema`, a schema file or mapping adding
        custom APIs, or None for the standard entities only. ``companies`` are created if
        missing. ``clock`` (seconds since the epoch) stamps ``lastModifiedDateTime``.
        """
        loaded = schema if isinstance(schema, Schema) else load_schema(schema)
        service = cls(
            data_dir=Path(data_dir) if data_dir is not None else None,
            schema=loaded,
            tls=tls,
            port=port,
            faults=faults,
            budget=budget,
            companies=companies,
            environment=environment,
            credentials=credentials,
            token_lifetime=token_lifetime,
            clock=clock,
        )
        service._server.start()
        return service

    @property
    def url(self) -> str:
        """The standard API root: ``{root}/v2.0/{tenant}/{environment}/api/v2.0``."""
        return f"{self.root}/v2.0/{self.tenant}/{self.environment}/api/v2.0"

    @property
    def onprem_url(self) -> str:
        """The same API in the on-premises layout: ``{root}/BC/api/v2.0``."""
        return f"{self.root}/{self.api.instance}/api/{STANDARD_API}"

    def api_url(self, api: str = STANDARD_API) -> str:
        """The root of an API route: ``v2.0`` or a custom ``publisher/group/version``."""
        return f"{self.root}/v2.0/{self.tenant}/{self.environment}/api/{api}"

    @property
    def authority(self) -> str:
        """For msal: ``ConfidentialClientApplication(..., authority=bc.authority,
        instance_discovery=False, verify=str(bc.ca_file))``; scope ``{bc.root}/.default``
        or ``https://api.businesscentral.dynamics.com/.default``."""
        return f"{self.root}/{self.tenant}"

    @property
    def scope(self) -> str:
        return f"{self.root}/.default"

    @property
    def company_ids(self) -> dict[str, str]:
        """Company name -> id."""
        with self.store.lock:
            return {c.name: c.id for c in self.store.companies()}

    def add_company(self, name: str) -> str:
        """Create a company (if new); returns its id."""
        with self.store.lock, self.store.transaction():
            return self.store.add_company(name, self.records.now_ms()).id

    @property
    def budget(self) -> Budget | None:
        return self.limiter.budget if self.limiter else None

    @budget.setter
    def budget(self, budget: Budget | None) -> None:
        self.limiter = RequestLimiter(budget) if budget else None

    def entity_set(self, name: str, api: str = STANDARD_API) -> EntitySet:
        try:
            return self.schema.apis[api][name]
        except KeyError:
            raise ValueError(f"the API {api} has no entity set {name!r}") from None

    def deny(self, entity_set: str, *permissions: str, api: str = STANDARD_API) -> None:
        """Take permissions (``read``, ``insert``, ``modify``, ``delete``) on an entity set
        away from every caller, as an app whose permission sets lack them: 403."""
        target = self.entity_set(entity_set, api)
        for permission in permissions:
            if permission not in ("read", "insert", "modify", "delete"):
                raise ValueError(f"unknown permission {permission!r}")
            self.api.denied.add((target.api, target.name, permission))

    def allow(self, entity_set: str, *permissions: str, api: str = STANDARD_API) -> None:
        """Give back permissions :meth:`deny` took (all of the set's when none are named)."""
        for permission in permissions or ("read", "insert", "modify", "delete"):
            self.api.denied.discard((api, entity_set, permission))

    def _company(self, company: str) -> str:
        ids = self.company_ids
        if company in ids:
            return ids[company]
        if company.lower() in ids.values():
            return company.lower()
        raise ValueError(f"no company {company!r} (companies: {', '.join(ids)})")

    def insert_rows(
        self,
        company: str,
        entity_set: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        api: str = STANDARD_API,
    ) -> list[str]:
        """Insert trusted rows (JSON field names and values) in one transaction, without
        HTTP: for demo data and benchmarks. Values are converted as a POST's are; read-only
        fields may be set too; a missing key takes the series' next number; ``id`` and
        ``lastModifiedDateTime`` (ISO text or aware datetime; default now) may be given.
        Returns the ids."""
        target = self.entity_set(entity_set, api)
        company_id = self._company(company)
        records = self.records
        defaults = records.defaults(target)
        with self.store.lock, self.store.transaction():
            now = records.now_ms()
            stored: list[dict[str, Any]] = []
            for row in rows:
                values = dict(row)
                stamp = values.pop("lastModifiedDateTime", None)
                given = records.values(target, values, creating=True, trusted=True)
                record = {**defaults, **given}
                if target.key and not record.get(target.key) and target.series:
                    record[target.key] = records.next_number(target, company_id)
                record["id"] = record.get("id") or str(uuid.uuid4())
                record["company"] = company_id
                record["modified"] = now if stamp is None else _epoch_ms(stamp)
                stored.append(record)
            for record, version in zip(stored, self.store.next_versions(len(stored)), strict=True):
                record["version"] = version
            self.store.insert(target, stored)
        return [r["id"] for r in stored]

    def rows(
        self, company: str, entity_set: str, *, api: str = STANDARD_API
    ) -> list[dict[str, Any]]:
        """Every entity of a company as the API returns it (for assertions)."""
        target = self.entity_set(entity_set, api)
        company_id = self._company(company)
        with self.store.lock:
            found = self.store.select(target, "company = ?", (company_id,), "id")
            return [self.records.to_json(target, r) for r in found]

    def count(self, company: str, entity_set: str, *, api: str = STANDARD_API) -> int:
        target = self.entity_set(entity_set, api)
        company_id = self._company(company)
        with self.store.lock:
            sql = f'SELECT COUNT(*) FROM "{target.table}" WHERE company = ?'
            return int(self.store.scalar(sql, (company_id,)))


def _epoch_ms(value: str | dt.datetime) -> int:
    """Epoch milliseconds of ISO text or a datetime (naive = UTC)."""
    instant = parse_instant(value) if isinstance(value, str) else value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return round(instant.timestamp() * 1000)
