"""Helpers for the Business Central connector tests: a connector on a running local service."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from typing import Any

from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.filters import Filter, parse_filter
from accord.model import Change, ChangeKind, Record, WriteResult
from accord.services.businesscentral import LocalBusinessCentral

USA = "CRONUS USA, Inc."
CANADA = "CRONUS Canada, Inc."


def connect(
    bc: LocalBusinessCentral, name: str = "erp", company: str | None = USA, **options: Any
) -> BusinessCentralConnector:
    """A connector with the service's static token and CA file (override any option)."""
    settings: dict[str, Any] = {
        "token": bc.token,
        "ca_bundle": str(bc.ca_file),
        "company": company,
        **options,
    }
    settings = {k: v for k, v in settings.items() if v is not None}
    return BusinessCentralConnector(name, url=bc.url, tables={}, options=settings)


def tag() -> str:
    """A number prefix no other test's records start with (upper-case: numbers are Code)."""
    return "T" + uuid.uuid4().hex[:6].upper()


def mine(prefix: str, text: str | None = None) -> Filter:
    """The filter of one test's records (and ``text``)."""
    own = f"startswith(number, '{prefix}')"
    return parse_filter(own if text is None else f"{own} and ({text})")


def insert_customers(
    connector: BusinessCentralConnector, prefix: str, rows: list[Mapping[str, Any]]
) -> list[str]:
    """Create customers numbered ``<prefix>000``, ``<prefix>001``, ...; returns the numbers."""
    numbers = [f"{prefix}{i:03d}" for i in range(len(rows))]
    changes = [
        Change(ChangeKind.INSERT, n, dict(row)) for n, row in zip(numbers, rows, strict=True)
    ]
    results = connector.write("customers", changes)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return numbers


def read_all(connector: BusinessCentralConnector, table: str, **options: Any) -> list[Record]:
    """Every record of one read, checking that none comes twice."""
    records = [r for batch in connector.read(table, **options) for r in batch]
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys)), "a record was read twice"
    return records


def failures(results: list[WriteResult]) -> dict[str, str]:
    return {r.key: r.error for r in results if not r.ok}


_used_seeds: set[int] = set()


def seed_for(hits: list[bool], rate: float = 0.5) -> int:
    """A fresh seed whose first draws fall under ``rate`` exactly where ``hits`` says."""
    for seed in range(100_001, 200_000):
        if seed in _used_seeds:
            continue
        draws = random.Random(seed)
        if all((draws.random() < rate) == hit for hit in hits):
            _used_seeds.add(seed)
            return seed
    raise AssertionError("no seed found")
