"""The synchronization engine: passes, runs, coupling and uncoupling."""

from __future__ import annotations

from accord.engine.progress import NoProgress, Progress
from accord.engine.project import Project
from accord.engine.results import CoupleResult, MappingOverview, RunResult

__all__ = ["CoupleResult", "MappingOverview", "NoProgress", "Progress", "Project", "RunResult"]
