"""Result objects returned by engine calls; the CLI renders them, scripts read them."""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.model import Counters, Coupling, Job, JobStatus


@dataclass
class RunResult:
    """The jobs of one command run, and the mappings that could not run."""

    run_id: str
    jobs: list[Job] = field(default_factory=list)
    not_run: dict[str, str] = field(default_factory=dict)  # mapping → why

    @property
    def ok(self) -> bool:
        return not self.not_run and all(j.status is JobStatus.OK for j in self.jobs)

    @property
    def failed_records(self) -> int:
        return sum(j.counters.failed for j in self.jobs)

    def totals(self) -> Counters:
        total = Counters()
        for job in self.jobs:
            total.merge(job.counters)
        return total

    def by_mapping(self) -> dict[str, Counters]:
        out: dict[str, Counters] = {}
        for job in self.jobs:
            out.setdefault(job.mapping, Counters()).merge(job.counters)
        return out


@dataclass
class CoupleResult:
    coupling: Coupling
    replaced: Coupling | None = None
    created: bool = False
    job: Job | None = None
    sync: RunResult | None = None


@dataclass(frozen=True)
class Ambiguity:
    """A case match-based coupling could not decide, for a person to resolve.

    ``1:N``: one local record with several candidates. ``N:1``: several local records whose
    only candidate is the same record. ``more`` counts the keys left out of the longer list.
    """

    kind: str  # "1:N" | "N:1"
    local_keys: tuple[str, ...]
    candidates: tuple[str, ...]
    more: int = 0

    @property
    def records(self) -> int:
        """Local records involved."""
        return len(self.local_keys) + (self.more if self.kind == "N:1" else 0)


@dataclass(frozen=True)
class WeakGroup:
    """Criteria that coupled records on values which repeat on both sides.

    ``fields`` are the local fields the decisions compared (the group's non-blank fields,
    with those of the groups that narrowed it); ``coupled`` counts the pairs so coupled. A
    value that several records on each side share identifies none of them: a single
    candidate found on it is a coincidence more often than a match (city alone).
    """

    priority: int
    fields: tuple[str, ...]
    coupled: int


@dataclass
class MatchResult:
    """What match-based coupling did: pairs coupled or created, and what it left alone."""

    mapping: str
    criteria: list[list[str]]  # local field names, one list per priority group
    job: Job  # the coupling job (type couple)
    coupled: list[tuple[str, str]] = field(default_factory=list)  # (local, integration)
    created: list[tuple[str, str]] = field(default_factory=list)  # counterparts created
    unmatched: list[str] = field(default_factory=list)  # local keys with no candidate
    ambiguous: list[Ambiguity] = field(default_factory=list)
    failed: int = 0  # records whose creation or coupling failed
    create: RunResult | None = None  # the creation pass (--create-new)
    sync: RunResult | None = None  # the synchronization of the newly coupled records
    held_local: set[str] = field(default_factory=set)  # every local key left ambiguous
    held_integration: set[str] = field(default_factory=set)  # and every candidate involved
    weak: list[WeakGroup] = field(default_factory=list)  # groups that coupled on weak values

    @property
    def ambiguous_records(self) -> int:
        return sum(a.records for a in self.ambiguous)

    @property
    def ok(self) -> bool:
        return (
            not self.unmatched
            and not self.ambiguous
            and not self.failed
            and self.job.status is JobStatus.OK
            and (self.create is None or self.create.ok)
            and (self.sync is None or self.sync.ok)
        )


@dataclass(frozen=True)
class MappingOverview:
    name: str
    direction: str
    table: str
    integration_table: str
    table_filter: str
    integration_table_filter: str
    depends_on: tuple[str, ...]
    coupled: int
    failed: int
    skipped: int
    pending: int
