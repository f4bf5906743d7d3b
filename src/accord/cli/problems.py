"""``accord errors``, ``retry``, ``restore`` and ``delete``: failed, skipped and broken couplings.

The reference's "Coupled Data Synchronization Errors" page as commands. Exit codes: 0 done,
1 some records could not be handled, 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, err, open_project
from accord.engine.repair import Outcome, RepairResult
from accord.model import JobStatus

MappingArg = Annotated[str, typer.Argument(help="Mapping name, e.g. CUSTOMER.")]
KeysArg = Annotated[
    list[str] | None, typer.Argument(help="Local or integration keys of coupled records.")
]


@app.command()
def errors(
    mapping: Annotated[
        str | None, typer.Argument(help="Mapping name (default: every mapping).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Lines to show.")] = 50,
    find_deleted: Annotated[
        bool,
        typer.Option(
            "--find-deleted",
            help="First check every coupling for a record deleted on either side, and mark "
            "those failed.",
        ),
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """List failed and skipped couplings with their last message, in dependency order."""
    with open_project(config) as project:
        checked = []
        if find_deleted:
            names = [m.name for m in project.ordered([mapping] if mapping else None)]
            checked = [project.find_deleted(name) for name in names]
        found = project.errors(mapping, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        if json:
            rows = [render.to_jsonable(p) for p in found]
            if find_deleted:
                render.print_json(
                    console,
                    {"checked": [render.job_json(j) for j in checked], "errors": rows},
                )
            else:
                render.print_json(console, rows)
            return
        for job in checked:
            console.print(
                f"{escape(job.mapping)}: checked {job.counters.processed:,} coupling(s), "
                f"found {job.counters.failed:,} coupled to a deleted record (job {job.id[:8]})"
            )
        if not found:
            console.print("No failed or skipped couplings.")
            return
        title = f"Synchronization errors ({len(found):,}{'+' if more else ''})"
        console.print(render.problems_table(found, title))
        if more:
            console.print(f"[dim]more with --limit {limit * 2}, or --json[/]")
        console.print(
            "Fix the cause, then [b]accord retry MAPPING KEY…[/] (or [b]--all[/]); "
            "for a deleted record: [b]accord restore[/], [b]accord delete[/] or "
            "[b]accord uncouple[/]."
        )


@app.command()
def retry(
    mapping: Annotated[
        str | None, typer.Argument(help="Mapping name (with --all and none: every mapping).")
    ] = None,
    keys: KeysArg = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every failed or skipped coupling of the mapping(s).")
    ] = False,
    sync: Annotated[
        bool, typer.Option("--sync", help="Synchronize them now, in the direction that failed.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Take couplings out of quarantine (skipped): the next sync processes them again."""
    with open_project(config) as project:
        result = project.retry(mapping, keys, all=all_, sync=sync)
        if json:
            render.print_json(console, render.repair_json(result))
        else:
            _show(result, "Retry")
            retried = result.count(Outcome.RETRIED)
            console.print(
                f"{retried:,} coupling(s) cleared of their failure count and quarantine"
                + ("" if sync else "; the next sync retries them")
            )
            if result.sync is not None:
                console.print(render.summary_table(result.sync, "Synchronization"))
    _exit_for(result)


@app.command()
def restore(
    mapping: MappingArg,
    keys: KeysArg = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every failed or skipped coupling of the mapping.")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Re-create the deleted record of broken couplings from the survivor, and couple them."""
    with open_project(config) as project:
        result = project.restore(mapping, keys, all=all_)
        if json:
            render.print_json(console, render.repair_json(result))
        else:
            _show(result, "Restore")
            console.print(f"restored {result.count(Outcome.RESTORED):,} record(s)")
    _exit_for(result)


@app.command()
def delete(
    mapping: MappingArg,
    keys: KeysArg = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every failed or skipped coupling of the mapping.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Delete the surviving record of broken couplings, and the couplings (destructive).

    A record whose coupled counterpart still exists is never deleted.
    """
    if not yes:
        if not sys.stdin.isatty():
            err.print(
                "[red]error:[/] accord delete deletes records: confirm with --yes "
                "(there is no terminal to ask at)",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        what = "every failed or skipped coupling" if all_ else f"{len(keys or []):,} key(s)"
        if not typer.confirm(
            f"Delete the surviving record of each broken coupling among {what} of {mapping}? "
            "(records whose counterpart exists are never deleted)"
        ):
            err.print("nothing deleted")
            raise typer.Exit(1)
    with open_project(config) as project:
        result = project.delete(mapping, keys, all=all_)
        if json:
            render.print_json(console, render.repair_json(result))
        else:
            _show(result, "Delete")
            console.print(
                f"deleted {result.count(Outcome.DELETED):,} record(s) and their coupling; "
                f"removed {result.count(Outcome.UNCOUPLED):,} coupling(s) to two deleted records"
            )
    _exit_for(result)


SHOWN = 50
"""Outcomes listed one by one; beyond that only those that need attention."""


def _show(result: RepairResult, title: str) -> None:
    shown = result.outcomes
    if len(shown) > SHOWN:
        shown = [o for o in shown if not o.ok][:SHOWN]
    if shown:
        part = RepairResult(result.jobs, shown)
        console.print(render.repair_table(part, f"{title} ({len(result.outcomes):,} record(s))"))
    if len(shown) < len(result.outcomes):
        console.print(f"[dim]{len(result.outcomes) - len(shown):,} more; --json lists all[/]")
    failed = sum(1 for o in result.outcomes if not o.ok)
    if failed:
        ids = [j.id[:8] for j in result.jobs if j.status is not JobStatus.OK]
        console.print(
            f"[yellow]{failed:,} record(s) could not be handled[/]"
            + (f"; see [b]accord jobs {ids[0]}[/]" if ids else "")
        )


def _exit_for(result: RepairResult) -> None:
    if not result.ok:
        raise typer.Exit(1)
