"""Shipped test kit: an in-memory connector and (later) the connector conformance suite."""

from __future__ import annotations

from accord.testing.faults import Fault, FaultKind, FaultPlan, FaultyConnector, inject
from accord.testing.memory import MemoryConnector, MemoryDatabase, database, drop_database

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "FaultyConnector",
    "MemoryConnector",
    "MemoryDatabase",
    "database",
    "drop_database",
    "inject",
]
