"""The pure domain: records, mappings, couplings, jobs. No I/O here."""

from __future__ import annotations

from accord.model.coupling import Coupling, SyncResult
from accord.model.direction import Direction, Side, source_side
from accord.model.job import Action, Counters, Job, JobError, JobStatus, JobType
from accord.model.keys import KeyPolicy
from accord.model.mapping import (
    DeletionConflict,
    FieldMapping,
    FieldRule,
    MatchCriterion,
    TableMapping,
    TableRef,
    TableSettings,
    Transform,
    UpdateConflict,
)
from accord.model.records import (
    STALE,
    Change,
    ChangeKind,
    Expected,
    FieldInfo,
    Record,
    TableSchema,
    WriteResult,
)

__all__ = [
    "STALE",
    "Action",
    "Change",
    "ChangeKind",
    "Counters",
    "Coupling",
    "DeletionConflict",
    "Direction",
    "Expected",
    "FieldInfo",
    "FieldMapping",
    "FieldRule",
    "Job",
    "JobError",
    "JobStatus",
    "JobType",
    "KeyPolicy",
    "MatchCriterion",
    "Record",
    "Side",
    "SyncResult",
    "TableMapping",
    "TableRef",
    "TableSchema",
    "TableSettings",
    "Transform",
    "UpdateConflict",
    "WriteResult",
    "source_side",
]
