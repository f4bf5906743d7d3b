"""The demo world: two small business systems to synchronize, built in one call.

``build_demo`` writes a Business-Central-like ERP and a Dataverse-like CRM as SQLite files,
filled with deterministic, realistic data (customers only on one side or the other), plus an
``accord.toml`` with the standard mappings, so that ``accord demo`` can run a full
synchronization on them straight away.
"""

from __future__ import annotations

from accord.demo.config import CONFIG_NAME, render_config, write_config
from accord.demo.data import MIN_RECORDS, DemoSizes
from accord.demo.mappings import STANDARD_MAPPINGS
from accord.demo.schema import CRM_METADATA, ERP_METADATA
from accord.demo.world import MARKER_NAME, DemoWorld, build_demo

__all__ = [
    "CONFIG_NAME",
    "CRM_METADATA",
    "ERP_METADATA",
    "MARKER_NAME",
    "MIN_RECORDS",
    "STANDARD_MAPPINGS",
    "DemoSizes",
    "DemoWorld",
    "build_demo",
    "render_config",
    "write_config",
]
