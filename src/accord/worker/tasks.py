"""The tasks a worker runs; each is one engine call (see :mod:`accord.engine.chunked`).

Tasks answer with plain data (JSON): job ids, and ``error`` when the call failed as a whole.
A mapping (or one range of a pass) that another run holds right now is not run beside it:
the task is retried later (``BUSY_RETRY`` seconds), as many times as it takes.

Each worker process opens the project of ``ACCORD_CONFIG`` once (``accord worker --config``
sets it) and keeps its connectors and state store for the tasks that follow.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown

from accord.engine import chunked
from accord.engine.project import Project
from accord.errors import AccordError, BusyError, LeaseLostError
from accord.model import Direction

log = logging.getLogger(__name__)

BUSY_RETRY = 2.0
"""Seconds before a task for a mapping (or range) another run holds is tried again."""

_PROJECT: dict[str, Project] = {}


def project() -> Project:
    """This worker process's project (opened on its first task)."""
    path = os.environ.get("ACCORD_CONFIG", "accord.toml")
    if path not in _PROJECT:
        from accord.worker.app import check_shared_state

        opened = Project.load(path)
        check_shared_state(opened.config)
        _PROJECT[path] = opened
    return _PROJECT[path]


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close(**_kwargs: Any) -> None:
    for opened in _PROJECT.values():
        opened.close()
    _PROJECT.clear()


def _busy(task: Task, exc: BusyError) -> Any:
    log.info("busy, retried in %.0f s: %s", BUSY_RETRY, exc)
    raise task.retry(countdown=BUSY_RETRY, max_retries=None, exc=exc)


def sync_mapping(task: Task, mapping: str, run_id: str, i_know: bool = False) -> dict[str, Any]:
    """An incremental sync of one mapping (its passes, as ``accord sync MAPPING``)."""
    try:
        run = project().sync([mapping], run_id=run_id, i_know=i_know)
    except BusyError as exc:
        return _busy(task, exc)  # type: ignore[no-any-return]
    except AccordError as exc:
        return {"error": str(exc)}
    return {"jobs": [j.id for j in run.jobs], "not_run": run.not_run}


def begin(task: Task, mapping: str, run_id: str, match_first: bool, i_know: bool) -> dict[str, Any]:
    try:
        begun = chunked.begin_mapping(
            project(), mapping, run_id=run_id, match_first=match_first, i_know=i_know
        )
    except BusyError as exc:
        return _busy(task, exc)  # type: ignore[no-any-return]
    except AccordError as exc:
        return {"error": str(exc)}
    return {
        "holder": begun.holder,
        "started": begun.started,
        "hold": begun.hold,
        "jobs": begun.job_ids,
        "broken": begun.broken,
    }


def plan(
    task: Task, mapping: str, direction: str, holder: str, part_records: int
) -> dict[str, Any]:
    try:
        parts, token, started = chunked.plan_parts(
            project(), mapping, Direction(direction), holder=holder, part_records=part_records
        )
    except AccordError as exc:
        return {"error": str(exc)}
    return {"parts": parts, "token": token, "started": started}


def part(
    task: Task,
    mapping: str,
    direction: str,
    holder: str,
    run_id: str,
    started: datetime,
    bounds: list[Any],
    index: int,
    of: int,
    later_pass: bool,
    hold: list[str],
    recheck: list[str],
) -> dict[str, Any]:
    try:
        done = chunked.run_part(
            project(),
            mapping,
            Direction(direction),
            holder=holder,
            run_id=run_id,
            started=_when(started),
            part=(bounds[0], bounds[1]),
            index=index,
            of=of,
            later_pass=later_pass,
            hold=hold,
            recheck=recheck,
        )
    except LeaseLostError as exc:  # fenced: this range's work is not this run's any more
        return {"error": str(exc), "jobs": []}
    except BusyError as exc:  # a redelivered copy of this very range is still running
        return _busy(task, exc)  # type: ignore[no-any-return]
    except AccordError as exc:
        return {"error": str(exc), "jobs": []}
    return {
        "jobs": done.job_ids,
        "max_seen": done.max_seen,
        "settle": done.settle,
        "failed": done.error,
    }


def finish(
    task: Task,
    mapping: str,
    direction: str,
    holder: str,
    started: datetime,
    token: str | None,
    max_seen: list[Any],
) -> dict[str, Any]:
    try:
        chunked.finish_pass(
            project(),
            mapping,
            Direction(direction),
            holder=holder,
            started=_when(started),
            token=token,
            max_seen=max_seen,  # versions as kombu's JSON brought them back (datetimes too)
        )
    except AccordError as exc:
        return {"error": str(exc)}
    return {}


def release(task: Task, holder: str) -> dict[str, Any]:
    try:
        chunked.release_mapping(project(), holder)
    except AccordError as exc:
        return {"error": str(exc)}
    return {}


def _when(value: Any) -> datetime:
    """A time as JSON brought it (kombu keeps datetimes; older peers send ISO text)."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


TASKS = {
    "accord.sync_mapping": sync_mapping,
    "accord.begin": begin,
    "accord.plan": plan,
    "accord.part": part,
    "accord.finish": finish,
    "accord.release": release,
}


def register(app: Celery) -> None:
    for name, function in TASKS.items():
        app.task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=None,
        )(function)
