"""Rendering of engine results: rich tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.engine.progress import pass_label
from accord.engine.repair import CouplingProblem, RepairResult
from accord.engine.results import MappingOverview, RunResult
from accord.model import Counters, Coupling, Job, JobStatus

COUNTERS = ("inserted", "modified", "unchanged", "skipped", "failed", "coupled")
STATUS_STYLE = {
    JobStatus.OK: "green",
    JobStatus.FAILED: "yellow",
    JobStatus.ERROR: "red",
    JobStatus.RUNNING: "cyan",
    JobStatus.INTERRUPTED: "magenta",
}


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime):
        # Accord keeps times as naive UTC: say so (ISO 8601 with +00:00), as scripts need.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def print_json(console: Console, value: Any) -> None:
    text = json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)
    if console.is_terminal:
        console.print_json(text)  # highlighted for people
    else:  # for scripts: rich's rendering costs milliseconds per record
        console.file.write(text + "\n")
        console.file.flush()


def job_json(job: Job) -> dict[str, Any]:
    data: dict[str, Any] = to_jsonable(job)
    data["duration"] = job.duration
    if not job.errors:
        data.pop("errors")
    return data


def run_json(run: RunResult) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "ok": run.ok,
        "totals": run.totals().as_dict(),
        "mappings": {k: v.as_dict() for k, v in run.by_mapping().items()},
        "not_run": run.not_run,
        "jobs": [job_json(j) for j in run.jobs],
    }


def summary_table(run: RunResult, title: str = "Synchronization summary") -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("mapping", no_wrap=True)
    for name in COUNTERS:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    status_by_mapping: dict[str, JobStatus] = {}
    for job in run.jobs:
        worst = status_by_mapping.get(job.mapping, JobStatus.OK)
        if job.status is not JobStatus.OK and worst is JobStatus.OK:
            status_by_mapping[job.mapping] = job.status
        status_by_mapping.setdefault(job.mapping, job.status)
    for mapping, counters in run.by_mapping().items():
        status = status_by_mapping[mapping]
        table.add_row(
            escape(mapping),
            *_counter_cells(counters),
            f"[{STATUS_STYLE[status]}]{status.value}[/]",
        )
    for mapping, why in run.not_run.items():
        table.add_row(escape(mapping), *("" for _ in COUNTERS), f"[red]not run[/]: {escape(why)}")
    if len(run.by_mapping()) > 1:
        table.add_section()
        table.add_row("[b]total[/]", *_counter_cells(run.totals()), "")
    return table


def _counter_cells(counters: Counters) -> list[str]:
    values = counters.as_dict()
    cells = []
    for name in COUNTERS:
        n = values[name]
        style = "red" if name == "failed" and n else ("dim" if n == 0 else "")
        cells.append(f"[{style}]{n:,}[/]" if style else f"{n:,}")
    return cells


def jobs_table(jobs: Iterable[Job]) -> Table:
    """Fits 80 columns: counters that are not zero share one wrapping column."""
    table = Table(
        title="Jobs (newest first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
    )
    table.add_column("id", no_wrap=True)
    table.add_column("mapping", no_wrap=True)
    table.add_column("pass", no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    table.add_column("counts", ratio=1)
    table.add_column("status", no_wrap=True)
    arrows = {"to-integration": "→", "from-integration": "←"}
    for job in jobs:
        what = arrows.get(job.direction.value, "") if job.direction else job.type.value
        counts = ", ".join(f"{k} {v:,}" for k, v in job.counters.as_dict().items() if v)
        table.add_row(
            job.id[:8],
            escape(job.mapping),
            what if job.type.value == "sync" else job.type.value,
            job.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            _duration(job.duration),
            counts or "[dim]nothing[/]",
            f"[{STATUS_STYLE[job.status]}]{job.status.value}[/]",
        )
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    return f"{seconds:.2f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:02.0f}s"


def job_detail(console: Console, job: Job) -> None:
    console.print(
        f"[b]Job {job.id}[/]  {job.type.value} {escape(job.mapping)} "
        f"{job.direction.value if job.direction else ''}"
    )
    console.print(
        f"status: [{STATUS_STYLE[job.status]}]{job.status.value}[/]   "
        f"started {job.started_at:%Y-%m-%d %H:%M:%S} UTC   "
        f"took {_duration(job.duration)}"
    )
    if job.message:
        console.print(f"message: {escape(job.message)}")
    counters = ", ".join(f"{k} {v:,}" for k, v in job.counters.as_dict().items() if v)
    console.print(f"counters: {counters or 'none'}")
    if job.errors:
        table = Table(title=f"Errors ({len(job.errors)})", title_justify="left")
        table.add_column("source key", no_wrap=True)
        table.add_column("destination key", no_wrap=True)
        table.add_column("message", overflow="fold")
        for e in job.errors:
            table.add_row(escape(e.source_key), escape(e.destination_key), escape(e.message))
        console.print(table)


def mappings_table(rows: Iterable[MappingOverview]) -> Table:
    rows = list(rows)
    table = Table(title="Mappings (in dependency order)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("mapping", min_width=max((len(m.name) for m in rows), default=7))
    table.add_column("", no_wrap=True)
    table.add_column("local table", overflow="fold", ratio=1)
    table.add_column("integration table", overflow="fold", ratio=1)
    for col in ("coupled", "failed", "skipped"):
        table.add_column(col, justify="right", no_wrap=True)
    arrows = {"to-integration": "→", "from-integration": "←", "bidirectional": "↔"}
    for m in rows:
        after = "".join(f"\n[dim]after {escape(d)}[/]" for d in m.depends_on)
        table.add_row(
            f"[b]{escape(m.name)}[/]{after}",
            arrows[m.direction],
            escape(m.table)
            + (f"\n[dim]where {escape(m.table_filter)}[/]" if m.table_filter else ""),
            escape(m.integration_table)
            + (
                f"\n[dim]where {escape(m.integration_table_filter)}[/]"
                if m.integration_table_filter
                else ""
            ),
            f"{m.coupled:,}",
            f"[red]{m.failed:,}[/]" if m.failed else "0",
            f"[yellow]{m.skipped:,}[/]" if m.skipped else "0",
        )
    table.caption = "→ to-integration   ← from-integration   ↔ bidirectional"
    return table


def couplings_table(mapping: str, couplings: Iterable[Coupling]) -> Table:
    table = Table(title=f"Couplings of {escape(mapping)}", title_justify="left")
    for col in ("local key", "integration key"):
        table.add_column(col, no_wrap=True)  # whole, so that they can be copied
    for col in ("last result", "synced (UTC)", "last error"):
        table.add_column(col, overflow="fold")
    for c in couplings:
        error = c.error_to or c.error_from
        style = {"failed": "red", "skipped": "yellow", "pending": "cyan", "deferred": "cyan"}.get(
            c.last_result, "green"
        )
        table.add_row(
            escape(c.local_key),
            escape(c.integration_key),
            f"[{style}]{c.last_result}[/]",
            c.synced_at.strftime("%Y-%m-%d %H:%M:%S") if c.synced_at else "",
            escape(error),
        )
    return table


class BarProgress:
    """Progress bars, one per pass, fed by the engine's progress callbacks."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> BarProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def pass_started(self, job: Job, total: int | None) -> None:
        self._tasks[job.id] = self.bars.add_task(
            pass_label(job.mapping, job.direction), total=total
        )

    def advanced(self, job: Job, records: int) -> None:
        self.bars.advance(self._tasks[job.id], records)

    def pass_finished(self, job: Job) -> None:
        task = self._tasks.get(job.id)
        if task is not None:
            done = self.bars.tasks[[t.id for t in self.bars.tasks].index(task)]
            self.bars.update(task, total=done.completed or 0, completed=done.completed)


# -- errors page, retry, restore, delete (accord.cli.problems) -------------------------------
MESSAGE_SHOWN = 160
"""Characters of a message shown in a table (``--json`` has it whole)."""
OUTCOME_STYLE = {
    "retried": "green",
    "restored": "green",
    "deleted": "green",
    "uncoupled": "green",
    "nothing to retry": "dim",
    "not broken": "dim",
    "not coupled": "red",
    "failed": "red",
}


def _shorten(text: str, limit: int = MESSAGE_SHOWN) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def problems_table(problems: Iterable[CouplingProblem], title: str) -> Table:
    """Fits 80 columns: keys and the message stack in one wide column, whole keys first."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("mapping  local key\nintegration key · last message", ratio=1, overflow="fold")
    table.add_column("pass", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("repeats", justify="right", no_wrap=True)
    table.add_column("job\nwhen (UTC)", no_wrap=True)
    arrows = {"to-integration": "→", "from-integration": "←"}
    for p in problems:
        style = "yellow" if p.state == "skipped" else "red"
        table.add_row(
            f"[b]{escape(p.mapping)}[/]  {escape(p.local_key)}\n{escape(p.integration_key)}\n"
            f"[dim]{escape(_shorten(p.message))}[/]",
            arrows.get(p.direction.value, "") if p.direction else "",
            f"[{style}]{p.state}[/]",
            f"{p.repeats:,}",
            (p.job_id or "")[:8] + (f"\n[dim]{p.at:%Y-%m-%d %H:%M:%S}[/]" if p.at else ""),
            end_section=True,
        )
    table.caption = "→ to-integration   ← from-integration   (--json shows whole messages)"
    return table


def repair_table(result: RepairResult, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("mapping  local key\nintegration key", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("detail", ratio=1, overflow="fold")
    for o in result.outcomes:
        keys = f"[b]{escape(o.mapping)}[/]  {escape(o.local_key)}"
        if o.integration_key:
            keys += f"\n{escape(o.integration_key)}"
        style = OUTCOME_STYLE.get(o.outcome.value, "")
        table.add_row(
            keys, f"[{style}]{o.outcome.value}[/]", escape(_shorten(o.message)), end_section=True
        )
    return table


def repair_json(result: RepairResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for o in result.outcomes:
        counts[o.outcome.value] = counts.get(o.outcome.value, 0) + 1
    return {
        "ok": result.ok,
        "counts": counts,
        "outcomes": [{**to_jsonable(o), "ok": o.ok} for o in result.outcomes],
        "jobs": [job_json(j) for j in result.jobs],
        "sync": run_json(result.sync) if result.sync is not None else None,
    }
