"""Background tasks: results, errors in one sentence, and how many finished ones are kept."""

from __future__ import annotations

import pytest

from accord.errors import UsageError
from accord.web import tasks as tasks_module
from accord.web.tasks import Tasks
from tests.cli.support import Demo
from tests.web.support import WAIT


def wait(tasks: Tasks, task_id: str) -> None:
    import time

    deadline = time.monotonic() + WAIT
    while tasks.get(task_id) is not None and tasks.get(task_id).running:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_task_keeps_its_result_or_its_error(demo: Demo) -> None:
    tasks = Tasks(demo.config)
    ok = tasks.start("overview", ["CUSTOMER"], lambda p, t: len(p.overview()))
    wait(tasks, ok.id)
    assert ok.result == 7 and ok.error == ""

    def refuse(p: object, t: object) -> None:
        raise UsageError("no such record 'X'")

    bad = tasks.start("refused", ["CUSTOMER"], refuse)
    wait(tasks, bad.id)
    assert bad.error == "no such record 'X'" and not bad.busy

    def defect(p: object, t: object) -> None:
        raise ZeroDivisionError("boom")

    broken = tasks.start("defect", ["CUSTOMER"], defect)
    wait(tasks, broken.id)
    assert broken.error == "internal error (ZeroDivisionError: boom)"


def test_only_the_newest_finished_tasks_are_kept(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_module, "KEPT", 2)
    tasks = Tasks(demo.config)
    started = []
    for n in range(4):
        task = tasks.start(f"t{n}", ["CURRENCY"], lambda p, t: None)
        wait(tasks, task.id)
        started.append(task.id)
    kept = [t.id for t in tasks.all()]
    # the 4th start forgot all but the 2 newest finished ones; it was running then
    assert started[0] not in kept and started[-1] in kept and len(kept) == 3
