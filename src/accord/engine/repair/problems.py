"""Listing failed and skipped couplings, and finding couplings to a deleted record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from accord.engine.deleted import mark_deleted
from accord.engine.repair.common import PASSES, abort, finish
from accord.engine.repair.results import CouplingProblem
from accord.engine.sync import new_job
from accord.errors import ConnectorError
from accord.model import (
    Coupling,
    Direction,
    Job,
    JobType,
    SyncResult,
    TableMapping,
)

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace


# -- listing ------------------------------------------------------------------------------
def list_problems(
    project: Workspace, mappings: Sequence[TableMapping], limit: int | None
) -> list[CouplingProblem]:
    """Failed and skipped couplings of ``mappings`` (in that order), one line per failure."""
    out: list[CouplingProblem] = []
    for mapping in mappings:
        remaining = None if limit is None else limit - len(out)
        if remaining is not None and remaining <= 0:
            break
        for c in project.store.problem_couplings(mapping.name, limit=remaining):
            out.extend(_problems_of(c))
    if limit is not None:
        out = out[:limit]
    started = project.store.job_started(p.job_id for p in out if p.job_id)
    return [replace(p, at=started.get(p.job_id)) if p.job_id else p for p in out]


def _problems_of(c: Coupling) -> list[CouplingProblem]:
    state = "skipped" if c.skipped else "failed"
    failed = [d for d in PASSES if c.result(d) is SyncResult.FAILURE]
    if not failed:
        return [
            CouplingProblem(
                c.mapping, c.local_key, c.integration_key, None, state, c.repeats, "", None
            )
        ]
    return [
        CouplingProblem(
            c.mapping,
            c.local_key,
            c.integration_key,
            d,
            state,
            c.repeats,
            c.error(d),
            c.job_to if d is Direction.TO_INTEGRATION else c.job_from,
        )
        for d in failed
    ]


# -- find deleted -------------------------------------------------------------------------
def find_deleted(project: Workspace, mapping_name: str) -> Job:
    """Mark couplings whose local or integration record is gone as failed; returns the job.

    Couplings are streamed in batches; each batch costs one keys-only read per side. A
    record missing on the integration side fails the to-integration direction (the pass that
    would notice it), one missing on the local side fails from-integration. The message is
    the one a pass gives, so a pass meeting the same coupling counts a repeat.
    """
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    store = project.store
    job = new_job(mapping.name, JobType.CHECK, None)
    store.start_job(job, job.id)
    try:
        for batch in store.iter_couplings(mapping.name, project.batch_size):
            mark_deleted(ctx, store, job, batch, project.batch_size, project.recorder)
    except ConnectorError as exc:
        abort(project, job, exc)
        raise
    found = job.counters.failed
    job.message = f"{found:,} coupling(s) to a deleted record" if found else "none found"
    finish(project, job)
    return job
