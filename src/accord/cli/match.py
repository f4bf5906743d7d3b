"""``accord match``: match-based coupling of a mapping's uncoupled records."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from accord.cli import render
from accord.cli.common import ConfigOpt, JsonOpt, app, console, open_project
from accord.cli.plan import NOT_STORED, DryRunOpt, plan_json, print_plan
from accord.engine.results import MatchResult


def _names(values: list[str] | None) -> list[str]:
    """``--case-sensitive a,b --case-sensitive c`` → ``[a, b, c]``."""
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


@app.command()
def match(
    mapping: Annotated[str, typer.Argument(help="Mapping name, e.g. CUSTOMER.")],
    on: Annotated[
        str | None,
        typer.Option(
            "--on",
            help="Comma-separated fields to match on (local or integration names), as one "
            "group, instead of the configured criteria.",
        ),
    ] = None,
    case_sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--case-sensitive", help="Compare these criteria fields case-sensitively (repeatable)."
        ),
    ] = None,
    create_new: Annotated[
        bool | None,
        typer.Option(
            "--create-new/--no-create-new",
            help="Create and couple counterparts of records with no candidate (never of "
            "ambiguous ones). Default: the mapping's create_new_if_no_match.",
            show_default=False,
        ),
    ] = None,
    sync: Annotated[
        bool | None,
        typer.Option(
            "--sync/--no-sync",
            help="Synchronize the newly coupled records. Default: the mapping's "
            "sync_after_coupling.",
            show_default=False,
        ),
    ] = None,
    show: Annotated[
        int, typer.Option("--show", min=0, help="Ambiguous cases and unmatched keys listed.")
    ] = 20,
    dry_run: DryRunOpt = False,
    config: ConfigOpt = None,
    json: JsonOpt = False,
) -> None:
    """Couple uncoupled records whose match criteria agree (exactly one candidate each)."""
    fields = [n.strip() for n in on.split(",")] if on is not None else None
    with open_project(config) as project:
        kwargs: dict[str, Any] = {
            "on": fields,
            "case_sensitive": _names(case_sensitive),
            "create_new": create_new,
            "sync": sync,
        }
        with project.dry_run() if dry_run else nullcontext() as plan:
            if json:
                result = project.match(mapping, **kwargs)
            else:
                project.context(project.config.mapping(mapping).name)  # errors before the bars
                with render.BarProgress(console) as bars:
                    result = project.match(mapping, progress=bars, **kwargs)
        if json:
            data = match_json(result)
            render.print_json(console, plan_json(plan, data) if plan is not None else data)
        else:
            show_result(result, show, stored=plan is None)
            if plan is not None:
                print_plan(console, plan, show)
    if not result.ok:
        raise typer.Exit(1)


def match_json(result: MatchResult) -> dict[str, Any]:
    return {
        "mapping": result.mapping,
        "criteria": result.criteria,
        "ok": result.ok,
        "counts": counts(result),
        "coupled": [{"local_key": lk, "integration_key": ik} for lk, ik in result.coupled],
        "created": [{"local_key": lk, "integration_key": ik} for lk, ik in result.created],
        "unmatched": result.unmatched,
        "ambiguous": [
            {
                "kind": a.kind,
                "local_keys": list(a.local_keys),
                "candidates": list(a.candidates),
                "more": a.more,
            }
            for a in result.ambiguous
        ],
        "weak": [
            {"priority": w.priority, "fields": list(w.fields), "coupled": w.coupled}
            for w in result.weak
        ],
        "job": render.job_json(result.job),
        "create": render.run_json(result.create) if result.create else None,
        "sync": render.run_json(result.sync) if result.sync else None,
    }


def counts(result: MatchResult) -> dict[str, int]:
    return {
        "coupled": len(result.coupled),
        "created": len(result.created),
        "unmatched": len(result.unmatched),
        "ambiguous": result.ambiguous_records,
        "failed": result.failed,
    }


def show_result(result: MatchResult, show: int, *, stored: bool = True) -> None:
    groups = "; then ".join(", ".join(g) for g in result.criteria)
    console.print(f"[b]Match-based coupling of {escape(result.mapping)}[/] on {escape(groups)}")
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
    values = counts(result)
    for name in values:
        table.add_column(name, justify="right", no_wrap=True)
    cells = []
    for name, n in values.items():
        bad = n and name in ("unmatched", "ambiguous", "failed")
        cells.append(f"[yellow]{n:,}[/]" if bad else f"{n:,}")
    table.add_row(*cells)
    console.print(table)
    if result.ambiguous and show:
        console.print(
            f"[b]Ambiguous[/] (resolve with [b]accord couple {escape(result.mapping)} LOCAL "
            "--to KEY[/])"
        )
        listing = Table(box=box.SIMPLE_HEAD)
        listing.add_column("local key", overflow="fold")
        listing.add_column("candidates", overflow="fold")
        for a in result.ambiguous[:show]:
            local = ", ".join(a.local_keys) + (
                f" … +{a.more}" if a.kind == "N:1" and a.more else ""
            )
            found = ", ".join(a.candidates) + (
                f" … +{a.more}" if a.kind == "1:N" and a.more else ""
            )
            listing.add_row(escape(local), escape(found))
        console.print(listing)
        if len(result.ambiguous) > show:
            console.print(f"[dim]… and {len(result.ambiguous) - show:,} more ambiguous case(s)[/]")
    for w in result.weak:
        advice = (
            f"set min_priority = {w.priority - 1} in the mapping so that it only narrows"
            if w.priority
            else "match on a field that identifies a record (e-mail, number) first"
        )
        console.print(
            f"[yellow]weak[/]: {w.coupled:,} pair(s) coupled on {escape(', '.join(w.fields))} "
            f"(priority {w.priority}), whose values repeat on both sides; check them, and "
            f"{advice}"
        )
    if result.unmatched and show:
        keys = ", ".join(result.unmatched[:show])
        more = len(result.unmatched) - show
        console.print(
            f"[yellow]No candidate[/] for {len(result.unmatched):,} record(s): {escape(keys)}"
            + (f" … and {more:,} more" if more > 0 else "")
        )
        console.print("[dim]create their counterparts with --create-new[/]")
    if (result.ambiguous or result.unmatched) and stored:
        console.print(
            f"[dim]every record left uncoupled is in [b]accord jobs {result.job.id[:8]}[/][/]"
        )
    elif not stored:
        console.print(f"[dim]{NOT_STORED}[/]")
    if result.create is not None:
        console.print(render.summary_table(result.create, "Counterparts created"))
    if result.sync is not None:
        console.print(render.summary_table(result.sync, "Synchronization of the coupled records"))
