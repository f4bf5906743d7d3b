"""``accord run`` (the scheduler, in the foreground) and ``accord status`` (its state, anywhere)."""

from __future__ import annotations

import json as jsonlib
import socket
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich import box
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, err, open_project
from accord.cli.worker import BrokerOpt, QueueOpt
from accord.engine.project import Project
from accord.schedule.runner import Entry, Event, Runner, load_entries
from accord.schedule.spec import describe
from accord.state.store import utcnow


class Dispatch(StrEnum):
    LOCAL = "local"
    CELERY = "celery"


RESULT_STYLE = {"ok": "green", "idle": "dim", "failed": "yellow", "error": "red"}


def _when(at: datetime | None, now: datetime) -> str:
    if at is None or at <= now:
        return "due now"
    left = (at - now).total_seconds()
    return "in <1s" if left < 1 else f"in {describe(left)}"


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    return f"{describe(max(0.0, (now - at).total_seconds()))} ago"


def _lease_text(row: Any) -> str:
    return f"process {row.pid} on {row.host}"


def _held_leases(project: Project) -> dict[str, Any]:
    now = utcnow()
    return {row.mapping: row for row in project.store.held_leases() if row.expires_at >= now}


def schedule_table(
    entries: list[Entry],
    *,
    running: tuple[str, ...] = (),
    leases: dict[str, Any] | None = None,
    unscheduled: list[str] = (),  # type: ignore[assignment]
) -> Table:
    """The table ``accord run`` keeps live and ``accord status`` prints once."""
    now = utcnow()
    table = Table(box=box.SIMPLE_HEAD, title="Schedule", title_justify="left")
    for column in ("Mapping", "Schedule", "Next run", "Interval now", "Last run", "Result"):
        table.add_column(column)
    table.add_column("Records", justify="right")
    table.add_column("Failed", justify="right")
    if leases is not None:
        table.add_column("Lease held by")
    for e in entries:
        interval = e.interval_seconds
        held = interval is not None and e.idle_runs > 0 and e.schedule.idle_backoff is not None
        interval_text = describe(interval) if interval is not None else "—"
        if held:
            interval_text += " (idle)"
        result = e.last_result or "—"
        style = RESULT_STYLE.get(e.last_result, "")
        cells = [
            escape(e.mapping),
            escape(e.schedule.text()),
            "[cyan]running[/]" if e.mapping in running else _when(e.next_run_at, now),
            interval_text,
            _ago(e.last_run_at, now),
            f"[{style}]{escape(result)}[/]" if style else escape(result),
            f"{e.last_records:,}" if e.runs else "—",
            f"{e.last_failed:,}" if e.runs else "—",
        ]
        if leases is not None:
            row = leases.get(e.mapping)
            cells.append(escape(_lease_text(row)) if row is not None else "")
        table.add_row(*cells)
    for name in unscheduled:
        cells = [escape(name), "[dim]not scheduled[/]", *([""] * 6)]
        if leases is not None:
            row = leases.get(name)
            cells.append(escape(_lease_text(row)) if row is not None else "")
        table.add_row(*cells)
    return table


def entry_json(e: Entry, lease: Any | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "mapping": e.mapping,
        "schedule": e.schedule.text(),
        "every_seconds": e.schedule.every.total_seconds() if e.schedule.every else None,
        "cron": e.schedule.cron,
        "idle_backoff_seconds": (
            e.schedule.idle_backoff.total_seconds() if e.schedule.idle_backoff else None
        ),
        "next_run_at": e.next_run_at,
        "interval_seconds": e.interval_seconds,
        "last_run_at": e.last_run_at,
        "last_result": e.last_result or None,
        "last_records": e.last_records,
        "last_failed": e.last_failed,
        "last_message": e.last_message,
        "idle_runs": e.idle_runs,
        "runs": e.runs,
        "last_run_id": e.last_run_id,
    }
    data["lease"] = (
        None
        if lease is None
        else {"host": lease.host, "pid": lease.pid, "since": lease.acquired_at}
    )
    return render.to_jsonable(data)  # type: ignore[no-any-return]


def _json_line(event: Event) -> None:
    stamped = {"at": datetime.now(UTC).isoformat(), **event}
    console.file.write(jsonlib.dumps(render.to_jsonable(stamped), ensure_ascii=False) + "\n")
    console.file.flush()


def _say(event: Event) -> None:
    """One line per run or skip above the live table, for the terminal's scroll-back."""
    kind = event["event"]
    if kind == "skipped":
        console.print(f"[yellow]skipped[/] {escape(event.get('reason', ''))}", soft_wrap=True)
    elif kind == "error":
        names = ", ".join(event["mappings"])
        console.print(f"[red]error[/] {escape(names)}: {escape(event['message'])}", soft_wrap=True)
    elif kind == "finished":
        parts = [
            f"{escape(m)} {r['result']} ({r['records']:,} written, {r['failed']:,} failed)"
            for m, r in event["results"].items()
        ]
        console.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/] ran " + "; ".join(parts))


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Run the mappings due now, then exit (for cron).")
    ] = False,
    config: ConfigOpt = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print one JSON event per line instead of a table.")
    ] = False,
    dispatch: Annotated[
        Dispatch,
        typer.Option(
            "--dispatch",
            case_sensitive=False,
            help="Where passes run: in this process, or on `accord worker` processes.",
        ),
    ] = Dispatch.LOCAL,
    broker: BrokerOpt = None,
    queue: QueueOpt = None,
) -> None:
    """Run every scheduled mapping on its schedule, in dependency order (foreground).

    Ctrl-C or SIGTERM finishes the run in hand and stops; a second one interrupts it (exit
    130). With --once: exit 1 if a run failed records or could not run. With --dispatch
    celery the passes run on `accord worker` processes, a mapping after those it depends on.
    """
    from accord.schedule.loop import Loop

    with open_project(config) as project:
        project.check()
        if not project.config.schedules:
            err.print(
                '[red]error:[/] no mapping is scheduled: give mappings every = "30m" or '
                'cron = "*/15 * * * *", or a [schedule] section with a default',
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        events = _json_line if json else _say
        dispatcher = None
        if dispatch is Dispatch.CELERY:
            from accord.worker.app import broker_for
            from accord.worker.dispatch import CeleryDispatcher

            dispatcher = CeleryDispatcher(
                project, broker_for(project.config, url=broker, queue=queue)
            )
        runner = Runner(project, dispatcher, events=events)
        if once:
            happened = runner.tick()
            if json:
                _json_line({"event": "stopped", "reason": "once"})
            else:
                console.print(schedule_table(list(runner.entries.values())))
            if not _all_ok(happened):
                raise typer.Exit(1)  # as accord sync: failed records, or a run that failed
            return
        if json:
            _json_line(
                {
                    "event": "started_scheduler",
                    "host": socket.gethostname(),
                    "mappings": list(runner.entries),
                }
            )
            loop = Loop(runner)
            loop.run()
        else:

            def table() -> Table:
                return schedule_table(list(runner.entries.values()), running=runner.running)

            with Live(get_renderable=table, console=console, refresh_per_second=1):
                loop = Loop(runner)
                loop.run()
        if json:
            _json_line(
                {"event": "stopped", "reason": loop.stopping, "interrupted": loop.interrupted}
            )
        else:
            if not console.is_terminal:
                console.print()  # the table's last rendering ends without a line break
            console.print(f"stopped ({loop.stopping})")
        if loop.interrupted:
            err.print("interrupted")
            raise typer.Exit(130)


def _all_ok(happened: list[Event]) -> bool:
    """No run of this round failed records, failed as a whole, or left a mapping not run."""
    for event in happened:
        if event["event"] == "error":
            return False
        if event["event"] == "finished" and any(
            r["result"] in ("failed", "not run") for r in event["results"].values()
        ):
            return False
    return True


@app.command()
def status(config: ConfigOpt = None, json: JsonOpt = False) -> None:
    """The schedule accord run keeps: next run, interval, last result, who holds leases now."""
    with open_project(config) as project:
        entries = load_entries(project)
        leases = _held_leases(project)
        scheduled = {e.mapping for e in entries}
        unscheduled = [m.name for m in project.ordered() if m.name not in scheduled]
        if json:
            render.print_json(
                console,
                {
                    "mappings": [entry_json(e, leases.get(e.mapping)) for e in entries],
                    "unscheduled": [
                        {"mapping": name, "lease": entry_lease(leases.get(name))}
                        for name in unscheduled
                    ],
                },
            )
            return
        console.print(schedule_table(entries, leases=leases, unscheduled=unscheduled))


def entry_lease(lease: Any | None) -> dict[str, Any] | None:
    if lease is None:
        return None
    return render.to_jsonable(  # type: ignore[no-any-return]
        {"host": lease.host, "pid": lease.pid, "since": lease.acquired_at}
    )
