"""Jobs: the log of one pass, one coupling run or one uncoupling run, with counters."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum

from accord.model.direction import Direction


class JobType(StrEnum):
    SYNC = "sync"
    COUPLE = "couple"
    UNCOUPLE = "uncouple"
    RETRY = "retry"  # quarantine cleared (accord retry)
    DELETE = "delete"  # surviving records of broken couplings deleted (accord delete)
    CHECK = "check"  # couplings checked for deleted records (accord errors --find-deleted)


class JobStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"  # finished, but some records failed
    ERROR = "error"  # the pass itself could not run to the end
    INTERRUPTED = "interrupted"  # the process died; found on the next start


class Action(StrEnum):
    """The final action for one record; each one increments one counter (reference §2.14)."""

    INSERT = "inserted"
    MODIFY = "modified"
    DELETE = "deleted"
    UNCHANGED = "unchanged"
    SKIP = "skipped"
    FAIL = "failed"
    COUPLE = "coupled"
    UNCOUPLE = "uncoupled"
    IGNORE = "ignored"  # not counted: uncoupled record while syncing only coupled records


@dataclass(slots=True)
class Counters:
    inserted: int = 0
    modified: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    coupled: int = 0
    uncoupled: int = 0

    def add(self, action: Action, n: int = 1) -> None:
        if action is not Action.IGNORE:
            setattr(self, action.value, getattr(self, action.value) + n)

    def merge(self, other: Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def processed(self) -> int:
        return sum(self.as_dict().values())

    @property
    def written(self) -> int:
        return self.inserted + self.modified + self.deleted


@dataclass(slots=True)
class JobError:
    """One failed record in a job."""

    job_id: str
    source_key: str
    destination_key: str
    message: str
    at: datetime | None = None


@dataclass(slots=True)
class Job:
    id: str
    mapping: str
    type: JobType
    direction: Direction | None
    started_at: datetime
    finished_at: datetime | None = None
    status: JobStatus = JobStatus.RUNNING
    counters: Counters = field(default_factory=Counters)
    message: str = ""
    errors: list[JobError] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
