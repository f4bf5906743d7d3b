"""Helpers for the Dataverse connector tests: a connector on a running local service, rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from accord.connectors.dataverse.connector import DataverseConnector
from accord.model import Change, ChangeKind, Record, WriteResult
from accord.model.keys import new_uuids
from accord.services.dataverse import LocalDataverse


def connect(dv: LocalDataverse, name: str = "crm", **options: Any) -> DataverseConnector:
    """A connector with the service's static token and CA file (override any option)."""
    settings: dict[str, Any] = {"token": dv.token, "ca_bundle": str(dv.ca_file), **options}
    settings = {k: v for k, v in settings.items() if v is not None}
    return DataverseConnector(name, url=dv.url, tables={}, options=settings)


def tag() -> str:
    """A prefix no other test's account numbers start with."""
    return "T" + uuid.uuid4().hex[:8]


def insert_accounts(
    connector: DataverseConnector, prefix: str, rows: list[Mapping[str, Any]]
) -> list[str]:
    """Create accounts numbered ``<prefix>000``, ``<prefix>001``, ...; returns their keys."""
    keys = new_uuids(len(rows))
    changes = [
        Change(ChangeKind.INSERT, key, {"accountnumber": f"{prefix}{i:03d}", **row})
        for i, (key, row) in enumerate(zip(keys, rows, strict=True))
    ]
    results = connector.write("account", changes)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return keys


def read_all(connector: DataverseConnector, table: str, **options: Any) -> list[Record]:
    """Every record of one read, checking that none comes twice."""
    records = [r for batch in connector.read(table, **options) for r in batch]
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys)), "a record was read twice"
    return records


def failures(results: list[WriteResult]) -> dict[str, str]:
    return {r.key: r.error for r in results if not r.ok}
