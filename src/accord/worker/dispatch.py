"""Sending a run to the workers: mappings in dependency order, a full pass split in ranges.

:class:`CeleryDispatcher` is a :class:`accord.schedule.runner.Dispatcher`: ``accord run
--dispatch celery`` hands it the due mappings, and it waits for the workers to finish them.
A mapping is sent only once the mappings it depends on are done (a failed one leaves its
dependants not run, as in one process). An incremental sync of a mapping is one task; a full
sync is split: one task takes the mapping's lease for the whole run, then per pass one task
per key range runs on any worker, and only when every range of the pass ended without error
does the last task store the pass's watermark and delta token (see
:mod:`accord.engine.chunked`). The jobs the workers logged are read back from the state store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from accord.engine.project import Project
from accord.engine.results import RunResult
from accord.errors import AccordError, StateError
from accord.model import Direction, TableMapping
from accord.worker.app import Broker, broker_for, check_shared_state, close_app, make_app


class DispatchError(AccordError):
    """The workers could not run a mapping (the message says which and why)."""


class CeleryDispatcher:
    """Runs batches of mappings on Celery workers; :meth:`dispatch` blocks until done."""

    def __init__(
        self,
        project: Project,
        broker: Broker | None = None,
        *,
        full: bool = False,
        match_first: bool = True,
        i_know: bool = False,
        part_records: int | None = None,
        timeout: float | None = None,
    ) -> None:
        check_shared_state(project.config)
        self.project = project
        self.broker = broker or broker_for(project.config)
        self.app: Celery = make_app(self.broker)
        self.full = full
        self.match_first = match_first
        self.i_know = i_know
        self.part_records = part_records or project.config.workers.part_records
        self.timeout = timeout

    def close(self) -> None:
        close_app(self.app)

    # -- sending and waiting ------------------------------------------------------------
    def _send(self, name: str, *args: Any) -> AsyncResult[Any]:
        return self.app.send_task(name, args=args, queue=self.broker.queue)

    def _wait(self, sent: AsyncResult[Any]) -> dict[str, Any]:
        answer = sent.get(timeout=self.timeout, propagate=False, disable_sync_subtasks=False)
        if sent.failed() or not isinstance(answer, dict):
            raise DispatchError(f"a worker task failed: {answer!r}"[:500])
        return answer

    def _call(self, name: str, *args: Any) -> dict[str, Any]:
        return self._wait(self._send(name, *args))

    # -- a run --------------------------------------------------------------------------
    def dispatch(self, mappings: Sequence[str]) -> RunResult:
        project = self.project
        project.check()
        result = RunResult(str(uuid.uuid4()))
        broken: set[str] = set()
        for mapping in project.ordered(list(mappings) or None):
            blocked = sorted(d for d in mapping.hard_dependencies() if d.lower() in broken)
            if blocked:
                result.not_run[mapping.name] = f"depends on {', '.join(blocked)}, which failed"
                broken.add(mapping.name.lower())
                continue
            ok = self._full(mapping, result) if self.full else self._incremental(mapping, result)
            if not ok:
                broken.add(mapping.name.lower())
        return result

    def _incremental(self, mapping: TableMapping, result: RunResult) -> bool:
        answer = self._call("accord.sync_mapping", mapping.name, result.run_id, self.i_know)
        if "error" in answer:
            raise DispatchError(f"mapping {mapping.name}: {answer['error']}")
        self._collect(answer["jobs"], result)
        result.not_run.update(answer.get("not_run") or {})
        return mapping.name not in result.not_run and all(
            j.status.value != "error" for j in result.jobs if j.mapping == mapping.name
        )

    def _full(self, mapping: TableMapping, result: RunResult) -> bool:
        begun = self._call(
            "accord.begin", mapping.name, result.run_id, self.match_first, self.i_know
        )
        if "error" in begun:
            raise DispatchError(f"mapping {mapping.name}: {begun['error']}")
        self._collect(begun["jobs"], result)
        if begun.get("broken"):
            return False
        holder = begun["holder"]
        ok = True
        try:
            recheck: list[str] = []
            for index, direction in enumerate(mapping.direction.passes):
                passed, settle = self._pass(mapping, direction, index, begun, recheck, result)
                recheck = settle
                ok = ok and passed
                if not passed:
                    break
        finally:
            self._call("accord.release", holder)
        return ok

    def _pass(
        self,
        mapping: TableMapping,
        direction: Direction,
        index: int,
        begun: dict[str, Any],
        recheck: list[str],
        result: RunResult,
    ) -> tuple[bool, list[str]]:
        holder = begun["holder"]
        planned = self._call(
            "accord.plan", mapping.name, direction.value, holder, self.part_records
        )
        if "error" in planned:
            raise DispatchError(f"mapping {mapping.name}: {planned['error']}")
        parts = planned["parts"]
        hold = begun["hold"].get(direction.value, [])
        sent = [
            self._send(
                "accord.part",
                mapping.name,
                direction.value,
                holder,
                result.run_id,
                begun["started"],
                list(bounds),
                number,
                len(parts),
                index > 0,
                hold,
                recheck,
            )
            for number, bounds in enumerate(parts)
        ]
        answers = [self._wait(s) for s in sent]  # every range, whatever the others did
        errors = [a["error"] for a in answers if "error" in a]
        for a in answers:
            self._collect(a["jobs"], result)
        if errors:
            raise DispatchError(f"mapping {mapping.name}: {errors[0]}")
        if any(a["failed"] for a in answers):  # a range ended in error: no watermark moves
            return False, []
        done = self._call(
            "accord.finish",
            mapping.name,
            direction.value,
            holder,
            planned["started"],
            planned["token"],
            [a["max_seen"] for a in answers],
        )
        if "error" in done:
            raise DispatchError(f"mapping {mapping.name}: {done['error']}")
        return True, [k for a in answers for k in a["settle"]]

    def _collect(self, job_ids: list[str], result: RunResult) -> None:
        for job_id in job_ids:
            job = self.project.store.job(job_id)
            if job is None:
                raise StateError(f"job {job_id} a worker reported is not in the state store")
            result.jobs.append(job)
