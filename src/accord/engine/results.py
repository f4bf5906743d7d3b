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
