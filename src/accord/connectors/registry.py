"""Connector lookup by name: built-ins first, then the ``accord.connectors`` entry points.

Modules are imported only when their connector is used, so ``accord --help`` loads no driver.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from accord.connectors.base import Connector
from accord.errors import ConfigError
from accord.model import TableSettings

BUILTIN = {
    "sql": "accord.connectors.sql.connector:SqlConnector",
    "memory": "accord.testing.memory:MemoryConnector",
    "dataverse": "accord.connectors.dataverse.connector:DataverseConnector",
    "businesscentral": "accord.connectors.businesscentral.connector:BusinessCentralConnector",
}


def connector_names() -> list[str]:
    names = set(BUILTIN) | {ep.name for ep in entry_points(group="accord.connectors")}
    return sorted(names)


def open_connector(
    kind: str,
    name: str,
    *,
    url: str,
    tables: Mapping[str, TableSettings],
    options: Mapping[str, Any],
) -> Connector:
    """Instantiate the connector ``kind`` for system ``name``."""
    target = BUILTIN.get(kind)
    if target is None:
        for ep in entry_points(group="accord.connectors"):
            if ep.name == kind:
                target = ep.value
                break
    if target is None:
        raise ConfigError(
            f"system '{name}': unknown connector '{kind}' (known: {', '.join(connector_names())})"
        )
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    connector: Connector = cls(name, url=url, tables=tables, options=options)
    return connector
