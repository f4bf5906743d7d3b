"""Retry: clear the quarantine of couplings, and optionally synchronize them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.progress import NoProgress
from accord.engine.repair.common import (
    PASSES,
    check_selection,
    close,
    job_errors,
    record,
    select,
)
from accord.engine.repair.results import Outcome, RepairOutcome, RepairResult
from accord.engine.results import RunResult
from accord.engine.sync import new_job, sync_records
from accord.engine.workspace import ordered
from accord.errors import UsageError
from accord.model import Action, Direction, JobType, SyncResult

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace


def retry(
    project: Workspace,
    mapping_name: str | None,
    keys: Sequence[str] | None,
    *,
    all_: bool,
    sync: bool,
) -> RepairResult:
    """Clear ``skipped`` and ``repeats`` so the next sync processes these couplings again."""
    check_selection(keys, all_, "retry")
    if mapping_name is None and not all_:
        raise UsageError("name the mapping of these records")
    mappings = ordered(project.config, [mapping_name] if mapping_name else None)
    store = project.store
    result = RepairResult()
    to_sync: dict[tuple[str, Direction], list[str]] = {}
    for mapping in mappings:
        if all_:
            selected = store.problem_couplings(mapping.name)
            if mapping_name is None and not selected:
                continue  # every mapping: log jobs only where there is something to retry
        else:
            assert keys is not None
            selected = select(project, mapping.name, keys, "retried")
        job = new_job(mapping.name, JobType.RETRY, None)
        store.start_job(job, job.id)
        changed = [c for c in selected if c.skipped or c.repeats]
        outcomes = [
            RepairOutcome(
                mapping.name,
                c.local_key,
                c.integration_key,
                Outcome.RETRIED if c.skipped or c.repeats else Outcome.NOTHING,
                "quarantine cleared" if c.skipped else "",
            )
            for c in selected
        ]
        with store.transaction() as tx:
            tx.clear_skipped(mapping.name, [c.local_key for c in changed])
            job.counters.add(Action.MODIFY, len(changed))
            job.counters.add(Action.UNCHANGED, len(selected) - len(changed))
            tx.add_errors(job_errors(job, outcomes))
            job.message = f"{len(changed):,} coupling(s) will be retried by the next sync"
            close(job)
            tx.save_job(job)
        record(project, outcomes, {Outcome.RETRIED: Action.MODIFY})
        result.jobs.append(job)
        result.outcomes += outcomes
        for c in selected:
            failed = [
                d
                for d in PASSES
                if c.result(d) is SyncResult.FAILURE and mapping.direction.includes(d)
            ]
            if c.skipped and not failed:
                failed = list(mapping.direction.passes)
            for d in failed:
                to_sync.setdefault((mapping.name, d), []).append(c.local_key)
    if sync:
        project.check()  # nothing runs on an invalid configuration
        run = RunResult(str(uuid.uuid4()))
        for (name, direction), local_keys in to_sync.items():
            done = sync_records(
                project, project.config.mapping(name), local_keys, direction, NoProgress()
            )
            run.jobs += done.jobs
            run.not_run.update(done.not_run)
        result.sync = run
    return result
