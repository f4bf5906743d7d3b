"""A local service that speaks the Dataverse Web API v9.2, on SQLite (``accord dev dataverse``).

See :class:`LocalDataverse`; the README's "Local Dataverse service" lists what it serves and
where it differs from Dataverse.
"""

from __future__ import annotations

from accord.services.common.faults import FaultConfig
from accord.services.common.limiter import Budget
from accord.services.dataverse.schema import Schema, load_schema
from accord.services.dataverse.service import LocalDataverse

__all__ = ["Budget", "FaultConfig", "LocalDataverse", "Schema", "load_schema"]
