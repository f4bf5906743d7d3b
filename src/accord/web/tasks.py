"""Actions started from a page run in the background, one engine call each, with progress.

A :class:`Task` runs one call on its own :class:`~accord.Project` in a thread; pages poll
it (``/tasks/ID``) until it ends and then show its result object. Tasks live as long as the
server: a reloaded page finds the running ones in the task list. Two tasks on one mapping
are never started together, and the engine's leases keep any other run (another server, the
CLI, a scheduler) from working on the same mappings meanwhile.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.engine.plan import Plan
from accord.engine.progress import pass_label
from accord.engine.project import Project
from accord.errors import AccordError, BusyError
from accord.model import Job
from accord.secrets import redact

Action = Callable[[Project, "Task"], Any]
KEPT = 100
"""Finished tasks a server remembers (the newest); their jobs stay in the state store."""


@dataclass
class PassProgress:
    label: str
    total: int | None
    done: int = 0
    finished: bool = False


@dataclass
class Task:
    """One background action: what it is, how far it got, and how it ended."""

    id: str
    title: str
    mappings: tuple[str, ...]
    preview: bool
    started: float = field(default_factory=time.time)
    finished: float | None = None
    passes: list[PassProgress] = field(default_factory=list)
    result: Any = None
    plan: Plan | None = None
    error: str = ""
    busy: bool = False

    @property
    def running(self) -> bool:
        return self.finished is None

    # -- the engine's Progress protocol ----------------------------------------------------
    def pass_started(self, job: Job, total: int | None) -> None:
        self.passes.append(PassProgress(pass_label(job.mapping, job.direction), total))

    def advanced(self, job: Job, records: int) -> None:
        if self.passes:
            self.passes[-1].done += records

    def pass_finished(self, job: Job) -> None:
        if self.passes:
            self.passes[-1].finished = True


class Tasks:
    """The server's tasks, newest first."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def all(self) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda t: t.started, reverse=True)

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def start(
        self, title: str, mappings: Sequence[str], action: Action, *, preview: bool = False
    ) -> Task:
        """Start ``action`` in a thread, unless a task or another run holds these mappings.

        Raises :class:`BusyError` (one sentence) when one does.
        """
        names = tuple(mappings)
        with self._lock:
            for other in self._tasks.values():
                if other.running and not other.preview and set(other.mappings) & set(names):
                    raise BusyError(
                        f"{other.title} is still running on {', '.join(sorted(other.mappings))}"
                        " — wait for it to end"
                    )
            if not preview:
                with Project.load(self.config) as project:
                    busy = project.store.busy_leases(list(names))
                if busy:
                    raise BusyError(f"another run is working on {busy[0].mapping}: try again later")
            task = Task(str(uuid.uuid4()), title, names, preview)
            self._tasks[task.id] = task
            self._forget_old()
        threading.Thread(target=self._run, args=(task, action), daemon=True).start()
        return task

    def _forget_old(self) -> None:
        done = sorted((t for t in self._tasks.values() if not t.running), key=lambda t: t.started)
        for old in done[: max(0, len(done) - KEPT)]:
            del self._tasks[old.id]

    def _run(self, task: Task, action: Action) -> None:
        try:
            with Project.load(self.config) as project:
                if task.preview:
                    with project.dry_run() as plan:
                        task.result = action(project, task)
                    task.plan = plan
                else:
                    task.result = action(project, task)
        except BusyError as exc:
            task.error, task.busy = str(exc), True
        except AccordError as exc:
            task.error = str(exc)
        except Exception as exc:  # a defect: said in one line, no secret in it
            task.error = redact(f"internal error ({type(exc).__name__}: {exc})")
        finally:
            task.finished = time.time()
