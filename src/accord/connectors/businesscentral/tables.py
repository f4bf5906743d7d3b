"""Table names: a standard API v2.0 entity set, or a custom API's ``publisher/group/version/set``.

A system's ``url`` is the standard API's base (``.../api/v2.0``); a custom API published as
``api/contoso/sales/v1.0`` lives next to it, so ``contoso/sales/v1.0/loyaltyCards`` is read at
``.../api/contoso/sales/v1.0/companies(<id>)/loyaltyCards`` with that API's own ``$metadata``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accord.errors import ConfigError

STANDARD = "v2.0"
_SEGMENT = r"[A-Za-z0-9_\-.]+"
_ENTITY_SET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CUSTOM = re.compile(rf"(?P<api>{_SEGMENT}/{_SEGMENT}/v?[0-9][A-Za-z0-9.]*)/(?P<set>[^/]+)")


@dataclass(frozen=True, slots=True)
class TableName:
    """Which API a table belongs to (``v2.0`` or ``publisher/group/version``) and its set."""

    api: str
    entity_set: str

    @property
    def custom(self) -> bool:
        return self.api != STANDARD


def parse_table(system: str, table: str) -> TableName:
    """The API and entity set a table name stands for.

    Raises:
        ConfigError: the name is neither ``customers`` nor ``publisher/group/version/set``.
    """
    if _ENTITY_SET.fullmatch(table):
        return TableName(STANDARD, table)
    custom = _CUSTOM.fullmatch(table)
    if custom is not None and _ENTITY_SET.fullmatch(custom.group("set")):
        return TableName(custom.group("api"), custom.group("set"))
    raise ConfigError(
        f"system '{system}': '{table}' is not a Business Central table name (an API v2.0 "
        "entity set such as 'customers', or a custom API's 'publisher/group/version/entitySet' "
        "such as 'contoso/sales/v1.0/loyaltyCards')"
    )


def api_base(url: str) -> str:
    """The standard API's base from a system's ``url``: the URL as given when it ends in
    ``/api/v2.0``; ``/v2.0`` or ``/api/v2.0`` is added to one that stops short of it."""
    base = url.rstrip("/")
    if base.endswith("/api/" + STANDARD):
        return base
    if base.endswith("/api"):
        return f"{base}/{STANDARD}"
    return f"{base}/api/{STANDARD}"


def base_of(standard: str, api: str) -> str:
    """The base URL of ``api`` (``v2.0`` or ``publisher/group/version``) next to ``standard``."""
    return standard if api == STANDARD else standard[: -len(STANDARD)] + api


@dataclass(frozen=True, slots=True)
class Known:
    """What the last read or write of a record showed: its id, ETag and version, and the
    values read (the record's own dict, not a copy; None after a write)."""

    id: str
    etag: str | None
    version: datetime | None
    values: Mapping[str, Any] | None = None
