"""What listing and repairing couplings return: problems, outcomes, results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from accord.engine.results import RunResult
from accord.model import Direction, Job, JobStatus


@dataclass(frozen=True)
class CouplingProblem:
    """One line of the errors page: a coupling that failed (in one direction) or is skipped."""

    mapping: str
    local_key: str
    integration_key: str
    direction: Direction | None  # the pass that failed (None: skipped with no failure left)
    state: str  # "failed" or "skipped"
    repeats: int  # how many times in a row the same error happened
    message: str
    job_id: str | None
    at: datetime | None = None  # when the job that failed started


class Outcome(StrEnum):
    """What ``retry``, ``restore`` or ``delete`` did with one record."""

    RETRIED = "retried"  # quarantine cleared
    NOTHING = "nothing to retry"  # neither skipped nor failed
    RESTORED = "restored"  # the missing record was re-created and coupled
    DELETED = "deleted"  # the survivor and the coupling were deleted
    UNCOUPLED = "uncoupled"  # both records were gone: only the coupling was removed
    NOT_BROKEN = "not broken"  # both records exist (or the coupling is pending): nothing done
    NOT_COUPLED = "not coupled"  # the key names no coupling of the mapping
    FAILED = "failed"  # could not be handled; the message says why


@dataclass(frozen=True)
class RepairOutcome:
    mapping: str
    local_key: str
    integration_key: str
    outcome: Outcome
    message: str = ""
    created_key: str = ""  # restore: the key of the re-created record

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.NOT_COUPLED, Outcome.FAILED)


@dataclass
class RepairResult:
    """The jobs one ``retry``/``restore``/``delete`` logged and each record's outcome."""

    jobs: list[Job] = field(default_factory=list)
    outcomes: list[RepairOutcome] = field(default_factory=list)
    sync: RunResult | None = None  # retry --sync

    @property
    def ok(self) -> bool:
        return (
            all(o.ok for o in self.outcomes)
            and all(j.status is JobStatus.OK for j in self.jobs)
            and (self.sync is None or self.sync.ok)
        )

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome is outcome)
