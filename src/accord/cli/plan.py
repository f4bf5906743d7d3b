"""``--dry-run`` and ``--show N``: what a command would do, printed instead of done."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.engine.plan import Plan, PlannedChange
from accord.engine.progress import pass_label
from accord.engine.project import Project
from accord.model import Action

DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Compute what would happen and show it; write nothing anywhere."
    ),
]
ShowOpt = Annotated[
    int, typer.Option("--show", min=0, help="With --dry-run: list the first N planned changes.")
]

T = TypeVar("T")

STYLE = {
    Action.INSERT: "green",
    Action.MODIFY: "cyan",
    Action.COUPLE: "green",
    Action.UNCOUPLE: "yellow",
    Action.DELETE: "red",
    Action.FAIL: "red",
    Action.SKIP: "yellow",
}


def planned(project: Project, action: Callable[[], T]) -> tuple[T, Plan]:
    """Run ``action`` inside a dry run of ``project``."""
    with project.dry_run() as plan:
        return action(), plan


NOT_STORED = "dry run: no job stored"
"""What a dry run says instead of a job id: its jobs were rolled back with everything else."""

_JOB_REFERENCES = ("run_id", "job_id", "job_to", "job_from")


def plan_json(plan: Plan, result: Any) -> dict[str, Any]:
    return {
        "dry_run": True,
        "note": NOT_STORED,
        "counts": plan.counts(),
        "result": unstored(render.to_jsonable(result)),
        "plan": plan.changes,
    }


def unstored(value: Any) -> Any:
    """A dry run's result without the ids of jobs and couplings it never stored.

    A dry run logs its jobs like a real run, inside the transaction that is rolled back: an
    id shown would point to nothing (``accord jobs ID`` would say "no job"). Jobs and
    couplings keep every other field; their ids become null.
    """
    if isinstance(value, list):
        return [unstored(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: unstored(v) for k, v in value.items()}
    for key in _JOB_REFERENCES:
        if key in out:
            out[key] = None
    if "id" in out and ("counters" in out or "local_key" in out):
        out["id"] = None
    return out


def print_plan(console: Console, plan: Plan, show: int) -> None:
    """The plan's counts, then its first ``show`` changes."""
    counts = plan.counts()
    if not counts:
        console.print("[b]Dry run[/]: nothing would change.")
        return
    summary = "; ".join(
        f"{escape(m)}: " + ", ".join(f"{n:,} {a}" for a, n in sorted(by.items()))
        for m, by in counts.items()
    )
    console.print(f"[b]Dry run[/] — nothing was written. Planned: {summary}.")
    if show:
        console.print(plan_table(plan.changes[:show]))
        if len(plan.changes) > show:
            console.print(f"[dim]… and {len(plan.changes) - show:,} more (--show N, --json)[/]")
    else:
        console.print("[dim]List the planned changes with --show N (or all with --json).[/]")


def plan_table(changes: Iterable[PlannedChange]) -> Table:
    table = Table(title="Planned changes", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("pass", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("record", overflow="fold")
    table.add_column("what", overflow="fold")
    for c in changes:
        record = escape(c.key) + (f" → {escape(c.target)}" if c.target else "")
        if c.reason:
            what = escape(c.reason)
        elif c.action is Action.MODIFY:
            what = "; ".join(
                f"{escape(f)}: {_v(old)} → {_v(new)}" for f, (old, new) in c.fields.items()
            )
        elif c.action is Action.INSERT:
            what = ", ".join(f"{escape(f)}={_v(new)}" for f, (_, new) in list(c.fields.items())[:6])
        else:
            what = ""
        style = STYLE.get(c.action, "")
        action = c.action.value + (" (conflict)" if c.conflict else "")
        table.add_row(
            escape(pass_label(c.mapping, c.direction)),
            f"[{style}]{action}[/]" if style else action,
            record,
            what,
        )
    return table


def _v(value: Any) -> str:
    if value is None or value == "":
        return "[dim]blank[/]"
    return escape(repr(render.to_jsonable(value)) if isinstance(value, str) else str(value))
