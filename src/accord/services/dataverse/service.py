"""``LocalDataverse``: the service started in-process, for tests, the demo and the CLI.

::

    with LocalDataverse.start(data_dir=tmp_path) as dv:
        httpx.get(f"{dv.url}/api/data/v9.2/accounts",
                  headers={"Authorization": f"Bearer {dv.token}"}, verify=str(dv.ca_file))
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.services.common.auth import Credentials
from accord.services.common.faults import FaultConfig
from accord.services.common.lifecycle import LocalService
from accord.services.common.limiter import Budget, RequestLimiter
from accord.services.common.stats import RequestStats
from accord.services.dataverse.api import API_PATH, DataverseApi
from accord.services.dataverse.app import build_app
from accord.services.dataverse.batch import handle_batch
from accord.services.dataverse.records import Records
from accord.services.dataverse.schema import Schema, load_schema
from accord.services.dataverse.store import Store

__all__ = ["LocalDataverse"]


class LocalDataverse(LocalService):
    """A running local Dataverse: its URL, credentials, CA file, and direct data access.

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
        credentials: Credentials | None,
        token_lifetime: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self.schema = schema
        self.data_dir = self._open_folder(data_dir)
        self.store = Store(schema, data_dir / "dataverse.db" if data_dir else None)
        self.records = Records(schema, self.store, clock or time.time)
        self.faults = faults
        self.limiter = RequestLimiter(budget) if budget else None
        self.stats = RequestStats()
        """API requests answered (authenticated ones; a ``$batch`` is one), by method,
        status and kind (``stats.by_kind``: ``GET accounts``, ``POST $batch``, ...);
        ``stats.reset()`` starts a new count."""
        self._make_tls(data_dir, tls=tls, prefix="accord-dataverse-")
        self.api = DataverseApi(self.records, str(uuid.uuid4()), str(uuid.uuid4()))
        self.api.batch_handler = handle_batch
        self._make_issuer(credentials, data_dir, resource=lambda: self.url, lifetime=token_lifetime)
        app = build_app(
            self.api,
            self.issuer,
            base_url=lambda: self.url,
            faults=lambda: self.faults,
            limiter=lambda: self.limiter,
            stats=self.stats,
        )
        self.url: str = self._make_server(app, port)
        """The organization URL, ``https://127.0.0.1:PORT`` (the API is under /api/data/v9.2/)."""

    @classmethod
    def start(
        cls,
        data_dir: Path | None = None,
        schema: Schema | Path | Mapping[str, Any] | None = None,
        tls: bool = True,
        port: int = 0,
        faults: FaultConfig | None = None,
        budget: Budget | None = None,
        *,
        credentials: Credentials | None = None,
        token_lifetime: int = 3599,
        clock: Callable[[], float] | None = None,
    ) -> LocalDataverse:
        """Start serving (port 0: a free port); use as a context manager or call ``stop()``.

        ``data_dir`` holds the SQLite database and the TLS files (None: in memory and a
        temporary folder). ``schema`` is a :class:`Schema`, a schema file or mapping, or
        None for the demo's CRM tables. ``clock`` (seconds since the epoch) stamps
        ``createdon``/``modifiedon``: a test can hold it still to write within one second.
        """
        loaded = schema if isinstance(schema, Schema) else load_schema(schema)
        service = cls(
            data_dir=Path(data_dir) if data_dir is not None else None,
            schema=loaded,
            tls=tls,
            port=port,
            faults=faults,
            budget=budget,
            credentials=credentials,
            token_lifetime=token_lifetime,
            clock=clock,
        )
        service._server.start()
        return service

    @property
    def api_url(self) -> str:
        """The Web API root, ``{url}/api/data/v9.2/``."""
        return f"{self.url}{API_PATH}"

    @property
    def authority(self) -> str:
        """For msal: ``ConfidentialClientApplication(..., authority=dv.authority,
        instance_discovery=False, verify=str(dv.ca_file))``."""
        return f"{self.url}/{self.tenant}"

    @property
    def budget(self) -> Budget | None:
        return self.limiter.budget if self.limiter else None

    @budget.setter
    def budget(self, budget: Budget | None) -> None:
        self.limiter = RequestLimiter(budget) if budget else None

    def load(self, logical_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Insert rows given as Web API bodies, fast and without HTTP; returns their ids."""
        table = self.schema.tables[logical_name]
        with self.store.lock:
            return [r[table.primary_id] for r in self.records.create_many(table, rows)]

    def insert_rows(
        self, logical_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        """Insert trusted rows in stored form, fastest of all: for demo data and benchmarks.

        ``columns`` are attribute names (a lookup by its own name with a GUID value, and
        ``<name>type`` for a polymorphic one); values are stored as given, except datetimes
        (``datetime`` or ISO text) and booleans. No validation, no lookup checks: the rows are
        trusted. Columns not given get their defaults; ``createdon``/``modifiedon`` default to
        now. Returns the number of rows inserted.
        """
        table = self.schema.tables[logical_name]
        unknown = [c for c in columns if c not in table.attributes]
        if unknown:
            raise ValueError(f"{logical_name} has no column {', '.join(unknown)}")
        kinds = [table.attributes[c].type for c in columns]
        now = int(self.records.clock())
        base: dict[str, Any] = dict.fromkeys(table.attributes)
        for attribute in table.attributes.values():
            if attribute.default is not None:
                base[attribute.name] = int(attribute.default)
        stored: list[dict[str, Any]] = []
        for row in rows:
            record: dict[str, Any] = {**base, "createdon": now, "modifiedon": now}
            for name, kind, value in zip(columns, kinds, row, strict=True):
                if value is not None and kind == "DateTime":
                    value = _epoch(value)
                elif value is not None and kind == "Boolean":
                    value = int(bool(value))
                record[name] = value
            if not record.get(table.primary_id):
                record[table.primary_id] = str(uuid.uuid4())
            stored.append(record)
        with self.store.transaction():
            for record, version in zip(stored, self.store.next_versions(len(stored)), strict=True):
                record["versionnumber"] = version
            self.store.insert(table, stored)
        return len(stored)

    def load_demo(self, records: int = 1000, seed: int = 42) -> dict[str, int]:
        """Fill the demo's CRM tables with the rows ``accord demo`` generates for its CRM
        (same records and seed, same rows); returns rows per table. Default schema only."""
        from accord.demo.data import DemoData, DemoSizes
        from accord.demo.schema import CRM_METADATA

        counts: dict[str, int] = {}
        for name, rows in DemoData(DemoSizes.for_records(records), seed).crm():
            if name not in self.schema.tables:
                raise ValueError(f"the schema has no table {name}: demo data needs the default")
            columns = list(CRM_METADATA.tables[name].columns.keys())
            counts[name] = counts.get(name, 0) + self.insert_rows(name, columns, rows)
        return counts

    def deny(self, logical_name: str, *privileges: str) -> None:
        """Take privileges (``read``, ``create``, ``write``, ``delete``) on a table away from
        every caller, as an application user without them: requests answer 403."""
        table = self.schema.tables[logical_name]
        for privilege in privileges:
            if privilege not in ("read", "create", "write", "delete"):
                raise ValueError(f"unknown privilege {privilege!r}")
            self.api.denied.add((table.logical_name, privilege))

    def allow(self, logical_name: str, *privileges: str) -> None:
        """Give back privileges :meth:`deny` took (all of the table's when none are named)."""
        for privilege in privileges or ("read", "create", "write", "delete"):
            self.api.denied.discard((logical_name, privilege))

    def expire_delta_tokens(self) -> None:
        """Refuse every delta token given out so far, as Dataverse does once a token is older
        than ``ExpireChangeTrackingInDays`` (also: ``records.change_days``)."""
        with self.store.transaction():
            self.store.next_versions(1)  # tokens taken from now on are above the floor
            self.records.delta_floor = self.store.version

    def count(self, logical_name: str) -> int:
        table = self.schema.tables[logical_name]
        return int(self.store.scalar(f'SELECT COUNT(*) FROM "{table.logical_name}"', ()))


def _epoch(value: Any) -> int:
    """Whole epoch seconds of a datetime (naive = UTC) or ISO text (``T`` or space)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())
    return int(value)
