"""A local Business Central API v2.0 service (SQLite, HTTPS, tokens) for tests and the demo."""

from __future__ import annotations

from accord.services.businesscentral.schema import Schema, SchemaError, load_schema
from accord.services.businesscentral.service import LocalBusinessCentral

__all__ = ["LocalBusinessCentral", "Schema", "SchemaError", "load_schema"]
