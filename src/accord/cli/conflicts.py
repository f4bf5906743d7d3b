"""``accord conflicts`` and ``accord resolve``: see both sides of a conflict, then choose one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, exit_for, open_project
from accord.engine.conflicts import OpenConflict
from accord.errors import UsageError
from accord.model import Direction


@app.command()
def conflicts(
    mapping: Annotated[
        str | None, typer.Argument(help="Mapping name (default: every bidirectional one).")
    ] = None,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """List open update conflicts side by side: field, local, integration, at last sync."""
    with open_project(config) as project:
        found = project.conflicts(mapping)
        if json:
            render.print_json(console, found)
            return
        if not found:
            console.print("no open conflicts")
            return
        console.print(conflicts_table(found))
        console.print(
            f"{len(found):,} conflict(s). Settle one with "
            "[b]accord resolve MAPPING KEY --send[/] (local wins) or [b]--get[/] "
            "(integration wins)."
        )


@app.command()
def resolve(
    mapping: Annotated[str, typer.Argument(help="Mapping name.")],
    keys: Annotated[
        list[str] | None, typer.Argument(help="Local or integration keys of coupled records.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every open conflict of the mapping.")
    ] = False,
    send: Annotated[
        bool, typer.Option("--send", help="The local record wins (to-integration).")
    ] = False,
    get: Annotated[
        bool, typer.Option("--get", help="The integration record wins (from-integration).")
    ] = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Settle conflicts: one side's values go over, then the other side's own fields back."""
    with open_project(config) as project:
        if send == get:
            raise UsageError("say which side wins: --send (local) or --get (integration)")
        if bool(keys) == all_:
            raise UsageError("name the records to resolve, or use --all, not both")
        winner = Direction.TO_INTEGRATION if send else Direction.FROM_INTEGRATION
        run = project.resolve(mapping, None if all_ else keys, winner)
        if json:
            render.print_json(console, render.run_json(run))
        elif not run.jobs:
            console.print("no open conflicts to resolve")
        else:
            console.print(render.summary_table(run, "Resolved"))
    exit_for(run)


def conflicts_table(found: Iterable[OpenConflict]) -> Table:
    table = Table(title="Open update conflicts", title_justify="left")
    table.add_column("mapping", no_wrap=True)
    table.add_column("record (local ↔ integration)", overflow="fold")
    for col in ("field", "local", "integration", "at last sync"):
        table.add_column(col, overflow="fold")
    for item in found:
        record = f"{escape(item.local_key)} ↔ {escape(item.integration_key)}"
        if item.skipped:
            record += " [yellow](skipped)[/]"
        if not item.fields:
            table.add_row(item.mapping, record, "", "", "", escape(item.message[:80]))
            continue
        for i, f in enumerate(item.fields):
            table.add_row(
                item.mapping if i == 0 else "",
                record if i == 0 else "",
                escape(f.field),
                _shown(f.local),
                _shown(f.integration),
                _shown(f.at_last_sync) if f.known_base else "[dim]not kept[/]",
            )
    table.caption = "'at last sync' is kept for mappings with update_conflict = \"merge\""
    return table


def _shown(value: Any) -> str:
    return "[dim]blank[/]" if value in (None, "") else escape(str(value))
