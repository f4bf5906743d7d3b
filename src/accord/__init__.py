"""Accord: couple records in two business systems and keep them synchronized.

The public API: load a project from its configuration and call it::

    import accord
    with accord.Project.load("accord.toml") as project:
        run = project.sync()
"""

from __future__ import annotations

from accord.engine import CoupleResult, MappingOverview, NoProgress, Progress, Project, RunResult
from accord.engine.results import Ambiguity, MatchResult
from accord.errors import (
    AccordError,
    ConfigError,
    ConnectorError,
    FatalConnectorError,
    FilterError,
    RecordError,
    RetriableConnectorError,
    StateError,
    UsageError,
)
from accord.model import Counters, Coupling, Direction, Job, JobError, JobStatus, JobType

__version__ = "0.1.0"

__all__ = [
    "AccordError",
    "Ambiguity",
    "ConfigError",
    "ConnectorError",
    "Counters",
    "CoupleResult",
    "Coupling",
    "Direction",
    "FatalConnectorError",
    "FilterError",
    "Job",
    "JobError",
    "JobStatus",
    "JobType",
    "MappingOverview",
    "MatchResult",
    "NoProgress",
    "Progress",
    "Project",
    "RecordError",
    "RetriableConnectorError",
    "RunResult",
    "StateError",
    "UsageError",
    "__version__",
]
